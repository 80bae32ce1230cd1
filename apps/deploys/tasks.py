"""django-q2 task targets: thin wrappers that find the row and hand it to the deploy code."""
from apps.deploys.dispatch import execute
from apps.deploys.models import Deploy, Status


def run_deploy(deploy_id):
    deploy = Deploy.objects.select_related("workload").filter(pk=deploy_id).first()
    if deploy is not None and deploy.status == Status.QUEUED:
        execute(deploy)
