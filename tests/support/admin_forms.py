"""POST data for the workload change form in the admin, as a browser would send it."""
import json

INLINES = ("env_vars", "volumes", "containers", "Trigger_workloads", "deploys")


def workload_form(workload=None, *, name=None, kind="image", spec=None, chain=(), volumes=()):
    """The form fields for ``workload`` (or a new one) with the given changes; ``volumes`` are
    dicts with name/host_path/mount_path, sent as new inline rows (existing rows deleted)."""
    data = {
        "name": name or (workload.name if workload else ""),
        "kind": workload.kind if workload else kind,
        "ref_id": (workload.ref_id if workload else "") or "",
        "spec": json.dumps(spec if spec is not None else (
            workload.spec if workload else {"image": "127.0.0.1:1/none/web:live"})),
        "title_en": "", "title_ru": "", "description_en": "", "description_ru": "",
        "chain": [str(pk) for pk in chain],
    }
    for prefix in INLINES:
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    existing = list(workload.volumes.all()) if workload else []
    rows = [{"id": v.pk, "name": v.name, "host_path": v.host_path, "mount_path": v.mount_path,
             "DELETE": "on"} for v in existing] + [dict(v) for v in volumes]
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"volumes-{index}-{key}"] = value
        if workload:
            data[f"volumes-{index}-workload"] = workload.pk
    data["volumes-TOTAL_FORMS"] = str(len(rows))
    data["volumes-INITIAL_FORMS"] = str(len(existing))
    return data
