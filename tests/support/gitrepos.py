"""Local git repositories with a Dockerfile, for git-workload tests."""
import subprocess


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def web_repo(path, base_image):
    """A repository at ``path`` whose Dockerfile serves index.html on 8080 from ``base_image``
    (a busybox image)."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY index.html /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    return path


def commit_page(repo, text):
    """Commit ``text`` as index.html; returns the commit id."""
    (repo / "index.html").write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", text)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def remove_git_workload(workload):
    """Tear the workload down and remove every image its deploys built."""
    from apps.workloads.sources import get_source
    from tests.support import dockerlab

    get_source("git").teardown(workload)
    for pinned in workload.deploys.values_list("pinned", flat=True):
        if pinned.get("image_id"):
            dockerlab.remove_image(pinned["image_id"])
