"""The secret values workloads store (registry passwords, secret env values), for masking.

Encryption and masking themselves live in apps.core.crypto; this is the ORM-reading part, which
WorkloadsConfig.ready() registers there as a secret source."""

def known_secret_values(workload=None):
    """Every secret value the control plane knows: registry passwords and secret env values."""
    from apps.workloads.models import EnvVar, RegistryCredential

    values = [cred.password for cred in RegistryCredential.objects.all()]
    env = EnvVar.objects.filter(secret=True)
    if workload is not None:
        env = env.filter(workload=workload)
    values += [var.value for var in env]
    return [v for v in values if v]
