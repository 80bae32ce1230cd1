"""Parsing image references the way the engine reads them."""
import pytest

from apps.workloads.references import Reference, split_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("text,registry,repository,tag,digest", [
    ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "127.0.0.1:5000/a/b", "t", ""),
    ("localhost:5000/x", "localhost:5000", "localhost:5000/x", "latest", ""),
    ("localhost/x:1", "localhost", "localhost/x", "1", ""),
    ("library/nginx", "docker.io", "library/nginx", "latest", ""),
    ("nginx", "docker.io", "nginx", "latest", ""),
    ("nginx:1.27-alpine", "docker.io", "nginx", "1.27-alpine", ""),
    ("ghcr.io/owner/app:v1.2.3", "ghcr.io", "ghcr.io/owner/app", "v1.2.3", ""),
    ("registry.example.com:443/team/web", "registry.example.com:443",
     "registry.example.com:443/team/web", "latest", ""),
    ("my_org/my-app.web", "docker.io", "my_org/my-app.web", "latest", ""),
    (f"nginx@{DIGEST}", "docker.io", "nginx", "latest", DIGEST),
    (f"127.0.0.1:5000/a/b:t@{DIGEST}", "127.0.0.1:5000", "127.0.0.1:5000/a/b", "t", DIGEST),
    ("  nginx:1  ", "docker.io", "nginx", "1", ""),
])
def test_it_splits_a_reference_into_registry_repository_tag_and_digest(
    text, registry, repository, tag, digest
):
    assert split_reference(text) == Reference(
        registry=registry, repository=repository, tag=tag, digest=digest
    )


@pytest.mark.parametrize("text", [
    "",
    None,
    "   ",
    "Not A Ref",
    "NGINX",
    "nginx:bad tag",
    "nginx:-leading-dash",
    "nginx:" + "t" * 129,
    "nginx@sha256:abc",
    "nginx@md5:" + "a" * 32,
    "nginx@",
    ":latest",
    "/nginx",
    "a//b",
    "team/web/",
    "a___b",
    # Docker refuses these too ("invalid reference format"):
    "nginx:",
    "x:y:z",
    "team/Web",
    "127.0.0.1:5000/Team/web:live",
])
def test_it_rejects_what_is_not_an_image_reference(text):
    with pytest.raises(ValueError):
        split_reference(text)


def test_a_pinned_reference_prefers_the_digest():
    assert split_reference(f"127.0.0.1:5000/a/b:t@{DIGEST}").pinned == (
        f"127.0.0.1:5000/a/b@{DIGEST}"
    )
    assert split_reference("127.0.0.1:5000/a/b:t").pinned == "127.0.0.1:5000/a/b:t"
    assert split_reference("nginx").pinned == "nginx:latest"
