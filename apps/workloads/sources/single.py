"""The base of the kinds that run one container (image, git): they differ only in how they get
the image; running it, tearing it down and reporting it are the same (``runner``)."""
from apps.workloads import engine
from apps.workloads.sources import runner
from apps.workloads.sources.base import Source


class SingleContainerSource(Source):
    """Subclasses implement ``validate``, ``available`` and

    - ``resolve(ctx) -> (image, Pinned)``: the image reference or id to run and what it pins
      (with ``ctx.pinned`` set, exactly that artifact);
    - ``running_line(pinned, container_id) -> str``: the deploy log's closing line.
    """

    def resolve(self, ctx):
        raise NotImplementedError

    def running_line(self, pinned, container_id):
        raise NotImplementedError

    def deploy(self, ctx):
        image, pinned = self.resolve(ctx)
        ctx.resolved(pinned)  # stored before the swap begins, so recovery knows what it ran
        container_id = runner.replace_container(ctx, image)
        ctx.log(self.running_line(pinned, container_id))
        return pinned

    def teardown(self, workload):
        for container in runner.current_containers(workload):
            engine.remove_container(container.id)

    def reconcile(self, workload):
        return runner.current_containers(workload)
