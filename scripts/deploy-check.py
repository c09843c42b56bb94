#!/usr/bin/env python3
"""Checks the deployment files offline (the test command runs this).

- Helm: `helm lint --strict`, and `helm template` for the default values
  and two more sets (helm/switchboard/ci/*.yaml), with Helm's own code
  (PyPI helm-python-sdk).
- Kustomize: k8s/ and k8s/try-redis/ rendered (resources and
  commonLabels, the only features they use).
- Every rendered manifest validated against the Kubernetes schemas
  (PyPI kubernetes-validate, strict); custom resources (ServiceMonitor,
  HTTPRoute) are checked for their required fields only.
- yamllint on the YAML files, hadolint on the Dockerfile.
- Every Switchboard Deployment: three probes, preStop, a grace period
  longer than preStop + drain delay + spread + shutdown timeout, requests
  and limits, non-root, read-only root filesystem.
- .env.example, the ConfigMap/Secret and values.yaml name the same settings.
"""
import copy
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

root = Path(__file__).resolve().parent.parent
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


# --- kustomize (resources + commonLabels) -----------------------------------
SELECTOR_PATHS = {
    "Deployment": [["spec", "selector", "matchLabels"], ["spec", "template", "metadata", "labels"]],
    "Service": [["spec", "selector"]],
    "PodDisruptionBudget": [["spec", "selector", "matchLabels"]],
    "NetworkPolicy": [["spec", "podSelector", "matchLabels"]],
}


def kustomize(directory):
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    allowed = {"apiVersion", "kind", "resources", "commonLabels"}
    extra = set(k) - allowed
    if extra:
        fail(f"{directory}/kustomization.yaml uses {extra}: teach scripts/deploy-check.py or keep it simple")
    out = []
    for r in k.get("resources", []):
        p = (directory / r).resolve()
        out += kustomize(p) if p.is_dir() else docs(p.read_text())
    labels = k.get("commonLabels", {})
    for d in out:
        d = d
        d.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        for path in SELECTOR_PATHS.get(d["kind"], []):
            node = d
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node.setdefault(path[-1], {}).update(labels)
    return out


# --- helm ------------------------------------------------------------------
def helm_renders():
    import helm_python as helm

    chart_dir = root / "helm/switchboard"
    report = helm.lint(str(chart_dir), strict=True)
    for m in report["messages"]:
        if m["severity"] >= 2:
            fail(f"helm lint: {m['path']}: {m['error']}")
    for e in report["errors"]:
        fail(f"helm lint: {e}")
    chart = helm.Chart.load(str(chart_dir))
    sets = {"default": None}
    for f in sorted((chart_dir / "ci").glob("*.yaml")):
        sets[f.name] = yaml.safe_load(f.read_text())
    rendered = {}
    for name, values in sets.items():
        chart.validate_schema(values)
        out = chart.render(values, name="sb", namespace="chat")
        manifests = []
        for path, text in sorted(out.items()):
            if path.endswith(".yaml") and text.strip():
                manifests += docs(text)
        rendered[f"helm:{name}"] = manifests
        print(f"helm template ({name}): {len(manifests)} manifests")
    return rendered, yaml.safe_load((chart_dir / "values.yaml").read_text())


# --- checks ----------------------------------------------------------------
CUSTOM = {
    "ServiceMonitor": ["spec.selector", "spec.endpoints"],
    "HTTPRoute": ["spec.parentRefs", "spec.rules"],
}


def get(d, dotted):
    for key in dotted.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def validate(label, manifests, tmp):
    plain = []
    for i, m in enumerate(manifests):
        if m["kind"] in CUSTOM:
            for field in CUSTOM[m["kind"]]:
                if get(m, field) is None:
                    fail(f"{label}: {m['kind']} lacks {field}")
            continue
        plain.append(m)
    f = Path(tmp) / (re.sub(r"[^a-z0-9]+", "-", label.lower()) + ".yaml")
    f.write_text(yaml.safe_dump_all(plain))
    r = subprocess.run(["kubernetes-validate", "--strict", "--quiet", str(f)], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{label}: kubernetes-validate:\n{r.stdout}{r.stderr}")
    else:
        print(f"{label}: {len(plain)} manifests valid against the Kubernetes schemas")


def config_of(manifests):
    for m in manifests:
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("config"):
            return m["data"]
    return {}


def check_deployments(label, manifests):
    cfg = config_of(manifests)
    for m in manifests:
        if m["kind"] != "Deployment" or "redis" in m["metadata"]["name"]:
            continue
        spec = m["spec"]["template"]["spec"]
        c = spec["containers"][0]
        where = f"{label}: Deployment {m['metadata']['name']}"
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"]:
            if probe not in c:
                fail(f"{where} has no {probe}")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/ready":
            fail(f"{where}: the readiness probe must ask /ready")
        pre = get(c, "lifecycle.preStop")
        if not pre:
            fail(f"{where} has no preStop")
        pre_secs = int(get(c, "lifecycle.preStop.sleep.seconds") or 0)
        need = pre_secs + sum(
            int(cfg.get(k, 0)) for k in ["SB_DRAIN_DELAY_SECS", "SB_DRAIN_SPREAD_SECS", "SB_SHUTDOWN_TIMEOUT_SECS"]
        )
        grace = int(spec.get("terminationGracePeriodSeconds", 30))
        if not grace > need:
            fail(f"{where}: grace period {grace} s is not longer than preStop + drain + spread + timeout = {need} s")
        res = c.get("resources", {})
        for kind in ["requests", "limits"]:
            for r in ["cpu", "memory"]:
                if r not in res.get(kind, {}):
                    fail(f"{where}: no {kind}.{r}")
        non_root = get(spec, "securityContext.runAsNonRoot") or get(c, "securityContext.runAsNonRoot")
        if not non_root:
            fail(f"{where} may run as root")
        if not get(c, "securityContext.readOnlyRootFilesystem"):
            fail(f"{where}: the root filesystem is writable")
        print(f"{where}: probes, preStop, grace {grace} s > {need} s, resources, non-root")


def env_names():
    return {m.group(1) for m in re.finditer(r"^(SB_[A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M)}


def check_names(k8s, values):
    want = env_names()
    cm = set(config_of(k8s))
    secret = {k for m in k8s if m["kind"] == "Secret" for k in m.get("stringData", {})}
    got = {n for n in cm | secret if n.startswith("SB_")} | {"SB_NODE_ID"}
    if got != want:
        fail(f"k8s names differ from .env.example: missing {sorted(want - got)}, extra {sorted(got - want)}")
    helm_names = set(values["config"]) | set(values["secrets"]) | {"SB_NODE_ID", "SB_INTERNAL_PORT", "SB_REDIS_URL"}
    if helm_names != want:
        fail(f"values.yaml names differ: missing {sorted(want - helm_names)}, extra {sorted(helm_names - want)}")
    else:
        print(f"{len(want)} settings named alike in .env.example, k8s/ and values.yaml")


def main():
    r = subprocess.run([sys.executable, str(root / "scripts/deploy-config.py"), "--check"])
    if r.returncode:
        fail("scripts/deploy-config.py --check")
    with tempfile.TemporaryDirectory() as tmp:
        renders, values = helm_renders()
        k8s = kustomize(root / "k8s")
        renders["kustomize:k8s"] = k8s
        renders["kustomize:k8s/try-redis"] = kustomize(root / "k8s/try-redis")
        examples = []
        for f in sorted((root / "k8s/examples").glob("*.yaml")):
            examples += docs(f.read_text())
        renders["k8s/examples"] = examples
        for label, manifests in renders.items():
            validate(label, copy.deepcopy(manifests), tmp)
            check_deployments(label, manifests)
        check_names(k8s, values)
    yaml_files = ["k8s", "helm/switchboard/values.yaml", "helm/switchboard/Chart.yaml", "helm/switchboard/ci",
                  "docker-compose.yml", "deploy", ".yamllint.yaml"]
    r = subprocess.run(["yamllint", "-c", str(root / ".yamllint.yaml"), *yaml_files], cwd=root)
    if r.returncode:
        fail("yamllint")
    r = subprocess.run(["hadolint", str(root / "Dockerfile")], cwd=root)
    if r.returncode:
        fail("hadolint Dockerfile")
    if failures:
        print(f"\n{len(failures)} deployment check(s) failed")
        sys.exit(1)
    print("\ndeployment checks passed")


if __name__ == "__main__":
    main()
