"""The workload list renders its entries itself instead of having ninja validate every nested
object again (bench/RESULTS.md): each entry must still be exactly what the validated detail
endpoint answers for that workload, key order and all."""
import json

from tests.support.fleet import seed_fleet


def test_each_entry_of_the_workload_list_is_exactly_that_workloads_detail(
        as_admin, admin_user, make_workload):
    seed_fleet(3, deploys_each=3, user=admin_user)
    # Beside the fleet: one never deployed, with nothing related and both translations set.
    make_workload(name="bare", title_en="Bare", title_ru="Голый", description_ru="Описание")
    listed = as_admin.get("/workloads")
    assert listed.status_code == 200 and len(listed.data) == 4
    for entry in listed.data:
        detail = as_admin.get(f"/workloads/{entry['id']}")
        assert detail.status_code == 200
        assert entry == detail.data
        assert json.dumps(entry) == json.dumps(detail.data)  # same keys in the same order
    assert listed["Content-Type"] == detail["Content-Type"]


def test_the_workload_list_hides_secret_env_values_like_the_detail(as_admin, admin_user):
    seed_fleet(2, deploys_each=1, user=admin_user)
    entries = as_admin.get("/workloads").data
    secrets = [var for entry in entries for var in entry["env"] if var["secret"]]
    assert secrets and all(var["value"] is None for var in secrets)
    assert all(var["value"] is not None for entry in entries for var in entry["env"]
               if not var["secret"])
