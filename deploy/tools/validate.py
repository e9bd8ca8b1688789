#!/usr/bin/env python3
"""Validates deploy/ (run by scripts/deploy-check.sh, which installs the pinned tools).

1. Every object that `kubectl apply -k deploy/` would send, read from kustomization.yaml's
   resources and generators (the generators' inputs are the *.example files when the real,
   uncommitted ones are absent).
2. SpinApp / SpinAppExecutor, and the Prometheus Operator's PodMonitor / PrometheusRule,
   against the vendored CRDs' openAPIV3Schema (jsonschema; deploy/vendor/), made strict the way
   the API server's field validation is (`kubectl apply` defaults to --validate=strict): a
   field the schema does not name is an error, not silently pruned.
3. Built-in kinds (Namespace, ConfigMap, Secret, HPA, Ingress, CronJob) against Kubernetes'
   own schemas shipped in the kubernetes-validate package, strict, for the oldest and newest
   Kubernetes versions checked (no network at run time).
4. Galley's own rules against spin.toml: every component runs in some SpinApp; every service
   chain stays inside one SpinApp; the Ingress sends each public route to a SpinApp that has
   its component; bound variables exist and required ones are bound; each SpinApp holds the
   database passwords its components use and no secret they do not; Secret and ConfigMap
   references resolve; probes use Spin's health route; every workload has resource limits;
   the HPA targets an autoscaled SpinApp; the recovery CronJob calls the app that has
   order-create; the PodMonitor scrapes the saga metrics on the pods of a SpinApp that has
   order-create, on the port those pods have, with a token the Secret holds; the
   PrometheusRule's spec is exactly deploy/prometheus/rules.yml (scripts/prometheus-rule.sh).

5. deploy/wasmcloud/ (generated from spin.toml by `galley-wasmcloud deployment`): the
   WorkloadDeployments against wasmCloud's vendored CRD and the Services and Ingresses against
   Kubernetes', strict; then what the composed components need: every component runs, each
   variable reaches it (config or its Secret), the host interfaces its adapters import at the
   versions they import, chaining configured, the Redis trigger's channel subscribed, every
   public route reaching its workload under the Host it is bound to.

   validate.py            validate deploy/, exit 1 on any error
   validate.py --selftest also prove that typical mistakes (a typo in a field name, a chain
                          split across SpinApps, ...) are caught
"""

import copy
import pathlib
import re
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent
K8S_VERSIONS = ["1.30", "1.37"]
HEALTH = "/.well-known/spin/health"
CRDS = {
    ("core.spinkube.dev/v1alpha1", "SpinApp"): "spinkube/core.spinkube.dev_spinapps.yaml",
    ("core.spinkube.dev/v1alpha1", "SpinAppExecutor"): "spinkube/core.spinkube.dev_spinappexecutors.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "prometheus-operator/monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheus-operator/monitoring.coreos.com_prometheusrules.yaml",
    ("runtime.wasmcloud.dev/v1alpha1", "WorkloadDeployment"): "wasmcloud/runtime.wasmcloud.dev_workloaddeployments.yaml",
}
WASMCLOUD = DEPLOY / "wasmcloud"
# What spin-operator puts on a SpinApp's pods (pkg/spinapp at the vendored commit): the label
# naming the app, and one container port.
SPINAPP_POD_LABEL = "core.spinkube.dev/app-name"
SPINAPP_POD_PORT = "http-app"
SAGA_METRICS = "/api/v1/admin/sagas/metrics"
RULES = DEPLOY / "prometheus/rules.yml"


def strict(schema):
    """The CRD schema with unknown fields refused wherever the schema lists the known ones."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schema(file, api_version):
    crd = yaml.safe_load((DEPLOY / "vendor" / file).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == api_version.split("/")[1]]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is `type: object` in a CRD; the API server checks it as ObjectMeta.
    schema["properties"]["metadata"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {k: {} for k in ["name", "namespace", "labels", "annotations"]},
    }
    return schema


def load_objects(deploy=DEPLOY):
    """The objects of the kustomization, each with the file it came from."""
    kust = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    objects = []
    for res in kust.get("resources", []):
        for doc in yaml.safe_load_all((deploy / res).read_text()):
            if doc:
                objects.append((res, doc))

    def source(name):
        real = deploy / name
        if real.exists():
            return real
        stem, dot, ext = name.rpartition(".")
        example = deploy / (f"{stem}.example.{ext}" if dot and ext != "env" else f"{name}.example")
        if not example.exists():
            raise SystemExit(f"generator input {name} missing (and no {example.name})")
        return example

    for gen_kind, key in [("Secret", "secretGenerator"), ("ConfigMap", "configMapGenerator")]:
        for gen in kust.get(key, []):
            data = {}
            for env in gen.get("envs", []):
                for line in source(env).read_text().splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k, _, v = line.partition("=")
                        data[k] = v
            for f in gen.get("files", []):
                k, _, path = f.partition("=")
                data[k] = source(path or k).read_text()
            obj = {"apiVersion": "v1", "kind": gen_kind, "metadata": {"name": gen["name"]}, "stringData" if gen_kind == "Secret" else "data": data}
            if gen_kind == "Secret":
                obj["type"] = "Opaque"
            objects.append((f"kustomization.yaml {key}", obj))
    return kust, objects


def spin_manifest():
    return tomllib.loads((ROOT / "spin.toml").read_text())


def schema_errors(objects, err):
    """Custom resources against their vendored CRD, built-in kinds against Kubernetes' schemas."""
    for where, obj in objects:
        name = f"{where} {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        crd = CRDS.get((obj.get("apiVersion"), obj.get("kind")))
        if crd:
            validator = jsonschema.Draft7Validator(crd_schema(crd, obj["apiVersion"]))
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                err(name, f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                err(name, f"Kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
                break
            except kubernetes_validate.SchemaNotFoundError as e:
                err(name, e.message)
                break



def check(kust, objects, manifest):
    errors = []
    err = lambda where, msg: errors.append(f"{where}: {msg}")
    by_kind = {}
    for where, obj in objects:
        by_kind.setdefault(obj.get("kind"), []).append((where, obj))

    schema_errors(objects, err)

    # --- Galley's rules
    components = manifest["component"]
    variables = manifest.get("variables", {})
    spinapps = {o["metadata"]["name"]: o for _, o in by_kind.get("SpinApp", [])}
    secrets = {o["metadata"]["name"]: o.get("stringData", o.get("data", {})) for _, o in by_kind.get("Secret", [])}
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for _, o in by_kind.get("ConfigMap", [])}

    def ref_ok(where, value_from):
        for kind, store in [("secretKeyRef", secrets), ("configMapKeyRef", configmaps)]:
            ref = (value_from or {}).get(kind)
            if ref:
                if ref.get("name") not in store:
                    err(where, f"{kind} names {ref.get('name')!r}, which the kustomization does not create")
                elif ref.get("key") not in store[ref["name"]]:
                    err(where, f"{kind} {ref['name']!r} has no key {ref.get('key')!r}")

    def uses(component):
        """The app variables a component's own variables and allowed hosts refer to."""
        spec = components.get(component, {})
        texts = list(spec.get("variables", {}).values()) + list(spec.get("allowed_outbound_hosts", []))
        return {m for t in texts for m in re.findall(r"\{\{\s*(\w+)\s*\}\}", str(t))}

    def chains(component):
        hosts = components.get(component, {}).get("allowed_outbound_hosts", [])
        return [h.split("//", 1)[1].split(".spin.internal")[0] for h in hosts if ".spin.internal" in h]

    served = set()
    for app_name, app in spinapps.items():
        spec = app.get("spec", {})
        selected = spec.get("components") or list(components)
        where = f"SpinApp/{app_name}"
        for c in selected:
            if c not in components:
                err(where, f"component {c!r} is not in spin.toml")
                continue
            served.add(c)
            for target in chains(c):
                if target == "*":
                    err(where, f"{c} may chain to any component (http://*.spin.internal)")
                elif target not in selected:
                    err(where, f"{c} chains to {target}, which is not in this SpinApp (service chaining is in-process; Spin refuses the selection)")
        bound = set()
        for var in spec.get("variables", []):
            bound.add(var.get("name"))
            if var.get("name") not in variables:
                err(where, f"variable {var.get('name')!r} is not declared in spin.toml")
            ref_ok(f"{where} variable {var.get('name')}", var.get("valueFrom"))
        used = set().union(*(uses(c) for c in selected if c in components))
        for name, decl in variables.items():
            if decl.get("required") and name not in bound:
                err(where, f"required variable {name!r} is not bound")
            # Least privilege: a pod holds the secrets its components read, and no others
            # (required ones excepted: Spin refuses to start without them).
            if decl.get("secret") and not decl.get("required"):
                # (recovery_token stays unbound where its route must not work: galley-web.)
                if name.endswith("_db_password") and name in used and name not in bound:
                    err(where, f"secret variable {name!r} is used by its components but not bound")
                if name in bound and name not in used:
                    err(where, f"binds secret variable {name!r}, which none of its components uses")
            if decl.get("secret") and name in bound:
                var = next(v for v in spec["variables"] if v.get("name") == name)
                if "secretKeyRef" not in (var.get("valueFrom") or {}):
                    err(where, f"secret variable {name!r} must come from a Secret")
        rc = spec.get("runtimeConfig", {})
        if rc.get("loadFromSecret"):
            secret = secrets.get(rc["loadFromSecret"])
            if secret is None or "runtime-config.toml" not in secret:
                err(where, f"runtimeConfig.loadFromSecret {rc['loadFromSecret']!r}: no such Secret with key runtime-config.toml")
            else:
                stores = tomllib.loads(secret["runtime-config.toml"]).get("key_value_store", {})
                for label in ["cache", "default"]:
                    if stores.get(label, {}).get("type") != "redis":
                        err(where, f"runtime config: key-value store {label!r} must be on Redis")
        else:
            err(where, "no runtime config (runtimeConfig.loadFromSecret)")
        limits = spec.get("resources", {}).get("limits", {})
        if not {"cpu", "memory"} <= set(limits):
            err(where, "resources.limits must set cpu and memory")
        has_http = any(t.get("component") in selected for t in manifest["trigger"].get("http", []))
        for probe in ["readiness", "liveness"]:
            path = spec.get("checks", {}).get(probe, {}).get("httpGet", {}).get("path")
            if has_http and path != HEALTH:
                err(where, f"checks.{probe}.httpGet.path must be {HEALTH} (got {path!r})")
        if spec.get("enableAutoscaling") and "replicas" in spec:
            err(where, "replicas cannot be set when enableAutoscaling is true")

    for c in components:
        if c not in served:
            err("SpinApps", f"component {c!r} of spin.toml runs in no SpinApp")

    # The Ingress: the backend for each public route must run the route's component.
    def backend_for(path):
        best = None
        for _, ing in by_kind.get("Ingress", []):
            for rule in ing["spec"].get("rules", []):
                for p in rule.get("http", {}).get("paths", []):
                    prefix = p["path"].rstrip("/")
                    if path == prefix or path.startswith(prefix + "/") or p["path"] == "/":
                        if best is None or len(p["path"]) > len(best[0]):
                            best = (p["path"], p["backend"]["service"]["name"])
        return best and best[1]

    for trigger in manifest["trigger"].get("http", []):
        route = trigger.get("route")
        if not isinstance(route, str):
            continue  # private
        sample = route.replace("/...", "/x").replace(":id", "1").replace(":product_id", "1")
        app_name = backend_for(sample)
        if app_name is None:
            err("Ingress", f"no path sends {route} anywhere")
        elif app_name not in spinapps:
            err("Ingress", f"{route} goes to Service {app_name!r}, which no SpinApp creates")
        elif trigger["component"] not in (spinapps[app_name]["spec"].get("components") or list(components)):
            err("Ingress", f"{route} goes to {app_name}, which does not run {trigger['component']}")

    for where, hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        app = spinapps.get(target)
        if app is None or not app["spec"].get("enableAutoscaling"):
            err(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", f"targets {target!r}, which is no SpinApp with enableAutoscaling")

    for where, job in by_kind.get("CronJob", []):
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for container in pod.get("containers", []):
            name = f"CronJob/{job['metadata']['name']} container {container.get('name')}"
            if not {"cpu", "memory"} <= set(container.get("resources", {}).get("limits", {})):
                err(name, "resources.limits must set cpu and memory")
            for env in container.get("env", []):
                ref_ok(f"{name} env {env.get('name')}", env.get("valueFrom"))
            text = " ".join(container.get("args", []) + container.get("command", []))
            if "/api/v1/admin/sagas/recover" in text:
                url = next(a for a in container["args"] if "/api/v1/admin/sagas/recover" in a)
                host = url.split("//", 1)[1].split("/", 1)[0].split(".")[0]
                if "order-create" not in (spinapps.get(host, {}).get("spec", {}).get("components") or []):
                    err(name, f"calls recovery on {host!r}, which does not run order-create")
    if not any("/api/v1/admin/sagas/recover" in " ".join(c.get("args", [])) for _, j in by_kind.get("CronJob", [])
               for c in j["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]):
        err("CronJob", "nothing calls POST /api/v1/admin/sagas/recover on a schedule")

    # Monitoring (docs/observability.md, "On SpinKube").
    for where, pm in by_kind.get("PodMonitor", []):
        name = f"PodMonitor/{pm['metadata']['name']}"
        match = pm["spec"].get("selector", {}).get("matchLabels", {})
        selected = [a for a, o in spinapps.items()
                    if match and match.items() <= {SPINAPP_POD_LABEL: a, **o["spec"].get("podLabels", {})}.items()]
        if not selected:
            err(name, f"its selector matches no SpinApp's pods (they carry {SPINAPP_POD_LABEL}: <SpinApp>)")
        for ep in pm["spec"].get("podMetricsEndpoints", []):
            if ep.get("port") != SPINAPP_POD_PORT:
                err(name, f"port {ep.get('port')!r}: a SpinApp's pod has one port, {SPINAPP_POD_PORT!r}")
            if ep.get("path") == SAGA_METRICS:
                for a in selected:
                    if "order-create" not in (spinapps[a]["spec"].get("components") or list(components)):
                        err(name, f"scrapes {SAGA_METRICS} on {a}, which does not run order-create")
            cred = ep.get("authorization", {}).get("credentials")
            if cred:
                ref_ok(f"{name} authorization", {"secretKeyRef": cred})
    rules = yaml.safe_load(RULES.read_text())
    for where, pr in by_kind.get("PrometheusRule", []):
        if pr.get("spec") != rules:
            err(f"PrometheusRule/{pr['metadata']['name']}",
                "differs from deploy/prometheus/rules.yml, its only source: run scripts/prometheus-rule.sh")
    return errors


def check_wasmcloud(objects, manifest):
    """deploy/wasmcloud/: schemas, then what the composed components need (docs/wasmcloud.md)."""
    errors = []
    err = lambda where, msg: errors.append(f"{where}: {msg}")
    schema_errors(objects, err)
    by_kind = {}
    for _, obj in objects:
        by_kind.setdefault(obj.get("kind"), {})[obj["metadata"]["name"]] = obj
    workloads = by_kind.get("WorkloadDeployment", {})
    secrets = {n: o.get("stringData", {}) for n, o in by_kind.get("Secret", {}).items()}
    components = manifest["component"]
    http = manifest.get("trigger", {}).get("http", [])
    redis = manifest.get("trigger", {}).get("redis", [])
    for missing in sorted(set(components) - set(workloads)):
        err(f"component {missing}", "has no WorkloadDeployment")
    for extra in sorted(set(workloads) - set(components)):
        err(f"WorkloadDeployment/{extra}", "runs no component of spin.toml")
    for cid, component in components.items():
        wd = workloads.get(cid)
        if not wd:
            continue
        name = f"WorkloadDeployment/{cid}"
        spec = wd["spec"]["template"]["spec"]
        (c,) = spec.get("components", [None]) or [None]
        if not c or not c.get("image", "").rsplit(":", 1)[0].endswith(f"/{cid}"):
            err(name, f"does not run the composed image of {cid}")
            continue
        local = c.get("localResources", {})
        config = local.get("config", {})
        secret_keys = set()
        for ref in local.get("environment", {}).get("secretFrom", []):
            if ref["name"] not in secrets:
                err(name, f"takes configuration from Secret {ref['name']!r}, which the kustomization does not make")
            secret_keys |= set(secrets.get(ref["name"], {}))
        for var in component.get("variables", {}):
            if var not in config and var not in secret_keys:
                err(name, f"variable {var!r} reaches the component neither as config nor from its Secret")
        interfaces = {(i.get("namespace"), i.get("package"), i.get("version"), tuple(i.get("interfaces", []))): i for i in spec.get("hostInterfaces", [])}
        def need(ns, pkg, version, ifaces, why):
            if (ns, pkg, version, tuple(ifaces)) not in interfaces:
                err(name, f"needs host interface {ns}:{pkg}/{','.join(ifaces)}@{version} ({why})")
        need("wasi", "config", "0.2.0-rc.1", ["store"], "the variables and chaining adapters read it")
        outbound = component.get("allowed_outbound_hosts", [])
        uses_redis = any(h.startswith("redis://") for h in outbound)
        if component.get("key_value_stores") or uses_redis:
            need("wasi", "keyvalue", "0.2.0-draft", ["store"], "the key-value and Redis adapters use it")
        if uses_redis:
            need("wasmcloud", "messaging", "0.2.0", ["consumer"], "the Redis adapter publishes order events on it")
        if any(h.startswith("postgres://") for h in outbound):
            host = local.get("allowedHosts") and local.get("allowedIpNameLookups")
            if not host:
                err(name, "uses Postgres, which its adapter dials itself, but may not dial it or look its name up")
        if any(".spin.internal" in h for h in outbound):
            if "{component}" not in config.get("spin_internal_authority", ""):
                err(name, "chains to other components but has no spin_internal_authority template naming {component}")
        for trigger in redis:
            if trigger["component"] == cid:
                handler = interfaces.get(("wasmcloud", "messaging", "0.2.0", ("handler",)))
                if not handler or handler.get("config", {}).get("subscriptions") != trigger["channel"]:
                    err(name, f"must subscribe to {trigger['channel']!r}, the Redis channel that triggers it")
        if any(t["component"] == cid for t in http):
            host = next((i.get("config", {}).get("host") for k, i in interfaces.items() if k[:2] == ("wasi", "http")), None)
            if not host:
                err(name, "an HTTP component needs wasi:http/incoming-handler bound to a host name")
            service = spec.get("kubernetes", {}).get("service", {}).get("name")
            if service not in by_kind.get("Service", {}):
                err(name, f"names Service {service!r}, which does not exist")
            for t in http:
                route = t["route"]
                if t["component"] != cid or not isinstance(route, str):
                    continue
                prefix = route.split("/:")[0].split("/...")[0]
                reached = [ing for ing in by_kind.get("Ingress", {}).values()
                           for rule in ing["spec"].get("rules", []) for p in rule.get("http", {}).get("paths", [])
                           if p["backend"]["service"]["name"] == service and p["path"].rstrip("/") == prefix.rstrip("/")]
                if not reached:
                    err(name, f"route {route} reaches it through no Ingress")
                for ing in reached:
                    if ing["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/upstream-vhost") != host:
                        err(f"Ingress/{ing['metadata']['name']}", f"must send {route} with Host {host!r} (the workload's upstream-vhost)")
    return errors


# --- self-test: each mutation must be refused, with a message naming what is wrong
def mutate(objects, kind, name, fn):
    out = copy.deepcopy(objects)
    for _, obj in out:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            fn(obj)
            return out
    raise AssertionError(f"no {kind}/{name}")


def rename(d, old, new):
    d[new] = d.pop(old)


MUTATIONS = [
    ("a typo in a SpinApp field (replicas -> replica)", "SpinApp", "galley-web",
     lambda o: rename(o["spec"], "replicas", "replica"), "'replica' was unexpected"),
    ("a typo in a nested SpinApp field (httpGet.path -> httpGet.pth)", "SpinApp", "galley-orders",
     lambda o: rename(o["spec"]["checks"]["readiness"]["httpGet"], "path", "pth"), "'pth' was unexpected"),
    ("a wrong type in a SpinApp (replicas: \"3\")", "SpinApp", "galley-web",
     lambda o: o["spec"].__setitem__("replicas", "3"), "is not of type 'integer'"),
    ("a typo in a CronJob container (resources -> resourcs)", "CronJob", "galley-saga-recovery",
     lambda o: rename(o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0], "resources", "resourcs"), "'resourcs' was unexpected"),
    ("a typo in the HPA (minReplicas -> minReplica)", "HorizontalPodAutoscaler", "galley-orders",
     lambda o: rename(o["spec"], "minReplicas", "minReplica"), "'minReplica' was unexpected"),
    ("a typo in the Ingress (rules -> rule)", "Ingress", "galley",
     lambda o: rename(o["spec"], "rules", "rule"), "'rule' was unexpected"),
    ("payment left out of the order path", "SpinApp", "galley-orders",
     lambda o: o["spec"]["components"].remove("payment"), "order-create chains to payment"),
    # (Not galley-web: it runs order-query too, for the GraphQL gateway's reads.)
    ("the order routes sent to the events app", "Ingress", "galley",
     lambda o: o["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].__setitem__("name", "galley-events"), "does not run order-query"),
    ("another service's database password given to the events app", "SpinApp", "galley-events",
     lambda o: o["spec"]["variables"].append({"name": "users_db_password", "valueFrom": {"secretKeyRef": {"name": "galley-secrets", "key": "users_db_password"}}}),
     "binds secret variable 'users_db_password'"),
    ("the orders database password left out of the orders app", "SpinApp", "galley-orders",
     lambda o: o["spec"].__setitem__("variables", [v for v in o["spec"]["variables"] if v["name"] != "orders_db_password"]),
     "'orders_db_password' is used by its components but not bound"),
    ("auth_secret as a plain value", "SpinApp", "galley-web",
     lambda o: o["spec"]["variables"].__setitem__(0, {"name": "auth_secret", "value": "x" * 32}), "must come from a Secret"),
    ("a readiness probe off Spin's health route", "SpinApp", "galley-web",
     lambda o: o["spec"]["checks"]["readiness"]["httpGet"].__setitem__("path", "/healthz"), "checks.readiness.httpGet.path"),
    ("replicas beside enableAutoscaling", "SpinApp", "galley-orders",
     lambda o: o["spec"].__setitem__("replicas", 2), "replicas cannot be set"),
    ("a typo in the PodMonitor (podMetricsEndpoints[].path -> pth)", "PodMonitor", "galley-sagas",
     lambda o: rename(o["spec"]["podMetricsEndpoints"][0], "path", "pth"), "'pth' was unexpected"),
    ("a typo in a PrometheusRule rule (for -> fro)", "PrometheusRule", "galley",
     lambda o: rename(next(r for g in o["spec"]["groups"] for r in g["rules"] if "for" in r), "for", "fro"),
     "'fro' was unexpected"),
    ("the PrometheusRule edited by hand (an alert's threshold)", "PrometheusRule", "galley",
     lambda o: next(r for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r).__setitem__("expr", "vector(1) > 0"),
     "differs from deploy/prometheus/rules.yml"),
    ("the saga metrics scraped on galley-web (no order-create there)", "PodMonitor", "galley-sagas",
     lambda o: o["spec"]["selector"]["matchLabels"].__setitem__(SPINAPP_POD_LABEL, "galley-web"), "does not run order-create"),
    ("the PodMonitor on a port SpinApp pods do not have (metrics)", "PodMonitor", "galley-sagas",
     lambda o: o["spec"]["podMetricsEndpoints"][0].__setitem__("port", "metrics"), "port 'metrics'"),
    ("the saga metrics token from a key galley-secrets does not have", "PodMonitor", "galley-sagas",
     lambda o: o["spec"]["podMetricsEndpoints"][0]["authorization"]["credentials"].__setitem__("key", "metrics_token"),
     "has no key 'metrics_token'"),
]


WASMCLOUD_MUTATIONS = [
    ("a typo in a WorkloadDeployment field (replicas -> replica)", "WorkloadDeployment", "order-create",
     lambda o: rename(o["spec"], "replicas", "replica"), "'replica' was unexpected"),
    ("a typo in a host interface (interfaces -> interface)", "WorkloadDeployment", "gateway",
     lambda o: rename(o["spec"]["template"]["spec"]["hostInterfaces"][0], "interfaces", "interface"), "'interface' was unexpected"),
    ("a variable left out of a component's config", "WorkloadDeployment", "product-query",
     lambda o: o["spec"]["template"]["spec"]["components"][0]["localResources"]["config"].pop("cache_ttl_secs"),
     "'cache_ttl_secs' reaches the component neither"),
    ("order events subscribed on another subject", "WorkloadDeployment", "order-events",
     lambda o: next(i for i in o["spec"]["template"]["spec"]["hostInterfaces"] if "handler" in i["interfaces"])["config"].__setitem__("subscriptions", "orders"),
     "must subscribe to 'order_events'"),
    ("Spin's wasi:keyvalue draft2 instead of wasmCloud's draft", "WorkloadDeployment", "product-query",
     lambda o: next(i for i in o["spec"]["template"]["spec"]["hostInterfaces"] if i["package"] == "keyvalue").__setitem__("version", "0.2.0-draft2"),
     "needs host interface wasi:keyvalue/store@0.2.0-draft"),
    ("the Postgres host's name lookup not allowed", "WorkloadDeployment", "user-lookup",
     lambda o: o["spec"]["template"]["spec"]["components"][0]["localResources"].pop("allowedIpNameLookups"),
     "may not dial it or look its name up"),
    ("the chaining template dropped", "WorkloadDeployment", "order-create",
     lambda o: o["spec"]["template"]["spec"]["components"][0]["localResources"]["config"].pop("spin_internal_authority"),
     "no spin_internal_authority"),
    ("an Ingress sending the public Host to a workload bound to its cluster name", "Ingress", "user-lookup",
     lambda o: o["metadata"]["annotations"].pop("nginx.ingress.kubernetes.io/upstream-vhost"), "(the workload's upstream-vhost)"),
    ("a typo in an Ingress (pathType -> pathtype)", "Ingress", "order-query",
     lambda o: rename(o["spec"]["rules"][0]["http"]["paths"][0], "pathType", "pathtype"), "'pathType' is a required property"),
]


def selftest(label_set, run):
    passed = failed = 0
    for label, kind, name, fn, expect, found in run(label_set):
        if any(expect in e for e in found):
            passed += 1
            print(f"  refused as it must be: {label}")
        else:
            failed += 1
            print(f"  NOT refused: {label} (expected {expect!r}; got {found})")
    return passed, failed


def main():
    kust, objects = load_objects()
    manifest = spin_manifest()
    errors = check(kust, objects, manifest)
    _, wc_objects = load_objects(WASMCLOUD)
    errors += [f"wasmcloud/ {e}" for e in check_wasmcloud(wc_objects, manifest)]
    kinds = sorted({o["kind"] for _, o in objects})
    if errors:
        print("deploy/ is invalid:")
        for e in errors:
            print("  " + e)
        return 1
    print(f"deploy/: {len(objects)} objects valid ({', '.join(kinds)}); SpinKube and Prometheus Operator kinds against the vendored CRDs, "
          f"built-in kinds against Kubernetes {' and '.join(K8S_VERSIONS)}, strict")
    wc_kinds = sorted({o["kind"] for _, o in wc_objects})
    print(f"deploy/wasmcloud/: {len(wc_objects)} objects valid ({', '.join(wc_kinds)}); WorkloadDeployment against wasmCloud's vendored CRD, strict")
    if "--selftest" in sys.argv:
        spinkube = lambda ms: ((l, k, n, f, e, check(kust, mutate(objects, k, n, f), manifest)) for l, k, n, f, e in ms)
        wasmcloud = lambda ms: ((l, k, n, f, e, check_wasmcloud(mutate(wc_objects, k, n, f), manifest)) for l, k, n, f, e in ms)
        passed, failed = selftest(MUTATIONS, spinkube)
        wc_passed, wc_failed = selftest(WASMCLOUD_MUTATIONS, wasmcloud)
        passed, failed = passed + wc_passed, failed + wc_failed
        print(f"deploy-check selftest: {passed} passed, {failed} failed")
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
