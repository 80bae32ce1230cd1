"""Schedule and registry-watch triggers: django-q2 schedule rows in step, polling deploys."""
import pytest
from django_q.models import Schedule

from apps.deploys.models import Deploy, Trigger
from apps.deploys.tasks import poll_trigger
from apps.deploys.triggers import schedule_name


def schedules_of(trigger):
    return Schedule.objects.filter(name=schedule_name(trigger))


def test_a_bound_schedule_trigger_has_exactly_one_django_q_schedule(make_workload):
    trigger = Trigger.objects.create(name="nightly", kind="schedule", config={"cron": "0 3 * * *"})
    assert not schedules_of(trigger).exists()  # nothing bound yet: nothing to fire
    trigger.workloads.add(make_workload(), make_workload())
    rows = list(schedules_of(trigger))
    assert len(rows) == 1 and rows[0].cron == "0 3 * * *"
    assert rows[0].func == "apps.deploys.tasks.poll_trigger" and rows[0].schedule_type == "C"
    trigger.config = {"cron": "*/5 * * * *"}
    trigger.save()
    assert [s.cron for s in schedules_of(trigger)] == ["*/5 * * * *"]


def test_removing_the_trigger_removes_its_schedule(make_workload):
    trigger = Trigger.objects.create(name="nightly", kind="schedule", config={"cron": "0 3 * * *"})
    trigger.workloads.add(make_workload())
    assert schedules_of(trigger).count() == 1
    name = schedule_name(trigger)
    trigger.delete()
    assert not Schedule.objects.filter(name=name).exists()


def test_unbinding_the_last_workload_removes_the_schedule(make_workload):
    trigger = Trigger.objects.create(name="nightly", kind="schedule", config={"cron": "0 3 * * *"})
    workload = make_workload()
    trigger.workloads.add(workload)
    workload.triggers.remove(trigger)
    assert not schedules_of(trigger).exists()


def test_a_due_schedule_dispatches_every_bound_workload_with_reason_schedule(make_workload):
    trigger = Trigger.objects.create(name="nightly", kind="schedule", config={"cron": "0 3 * * *"})
    trigger.workloads.add(make_workload(), make_workload())
    deploy_ids = poll_trigger(trigger.pk)
    assert len(deploy_ids) == 2
    assert set(Deploy.objects.values_list("reason", flat=True)) == {"schedule"}


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_registry_watch_deploys_after_the_tag_is_pushed_with_new_content(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    trigger = Trigger.objects.create(name="watch", kind="registry_watch",
                                     config={"image": f"{repository}:live", "interval": 1})
    trigger.workloads.add(make_workload(spec={"image": f"{repository}:live"}))
    assert schedules_of(trigger).get().minutes == 1
    assert poll_trigger(trigger.pk) == []  # the first poll only remembers the digest
    assert poll_trigger(trigger.pk) == []  # unchanged
    second = publisher.publish(repository, 2)
    deploy_ids = poll_trigger(trigger.pk)
    deploy = Deploy.objects.get(pk__in=deploy_ids)
    assert deploy.reason == "watch" and deploy.status == "succeeded"
    assert deploy.pinned_ref == second
