#!/usr/bin/python3
"""Watch one namespaced core/v1 resource with the official Kubernetes Python
client, for tests: a real third-party client (Debian's python3-kubernetes,
for /usr/bin/python3) against the Kubernetes API test server or anything
serving the same API (a caching proxy). Started by test/support/python-kube.ts.

It loads the kubeconfig with kubernetes.config.load_kube_config (so the
server's certificate is verified against the kubeconfig's CA) and streams
kubernetes.watch.Watch().stream(CoreV1Api().list_namespaced_<kind>, ...),
printing one JSON line per event on stdout, flushed at once:

  {"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK", "name": ..., "resourceVersion": ..., "labels": {...}}

With --list-first it lists first, prints
  {"type": "LIST", "resourceVersion": ..., "names": [...]}
and watches from that list's resourceVersion.

How it ends: exit 0 when the watch ends cleanly (--timeout-seconds reached;
without it the client's Watch re-watches from the last resourceVersion it
saw whenever the server ends the stream, as the library does); on an
ApiException (a 410 ERROR event included: the library raises it after
retrying once without --timeout-seconds, at once with it) it prints
  {"type": "EXCEPTION", "status": <code>, "reason": "..."}
and exits 3; on any other failure (connection, TLS, a body the typed models
refuse) the same line with "status": null and exit 4; bad arguments exit 2.

--untyped reads lists and events as plain JSON instead of the library's
typed models, whose client-side validation refuses objects real clusters
never hold (a pod without spec.containers, say).
"""

import argparse
import json
import sys

# Namespaced core/v1 resources and the CoreV1Api method listing (and watching) them.
LIST_METHODS = {
    "configmaps": "list_namespaced_config_map",
    "endpoints": "list_namespaced_endpoints",
    "events": "list_namespaced_event",
    "limitranges": "list_namespaced_limit_range",
    "persistentvolumeclaims": "list_namespaced_persistent_volume_claim",
    "pods": "list_namespaced_pod",
    "podtemplates": "list_namespaced_pod_template",
    "replicationcontrollers": "list_namespaced_replication_controller",
    "resourcequotas": "list_namespaced_resource_quota",
    "secrets": "list_namespaced_secret",
    "serviceaccounts": "list_namespaced_service_account",
    "services": "list_namespaced_service",
}

EXIT_API_EXCEPTION = 3
EXIT_OTHER_FAILURE = 4


def emit(line):
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Watch a namespaced core/v1 resource with the Kubernetes Python client, one JSON line per event.")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--resource", required=True, choices=sorted(LIST_METHODS))
    p.add_argument("--label-selector")
    p.add_argument("--field-selector")
    p.add_argument("--resource-version", help="watch from this resourceVersion (not with --list-first)")
    p.add_argument("--timeout-seconds", type=int, help="the watch's timeoutSeconds: the server ends it then, and the client does not re-watch")
    p.add_argument("--list-first", action="store_true", help="list first, print a LIST line, and watch from the list's resourceVersion")
    p.add_argument("--untyped", action="store_true", help="read plain JSON, not the library's typed models")
    args = p.parse_args(argv)
    if args.list_first and args.resource_version is not None:
        p.error("--resource-version and --list-first exclude each other: --list-first watches from the list's resourceVersion")
    if args.timeout_seconds is not None and args.timeout_seconds < 0:
        p.error("--timeout-seconds must be >= 0")
    return args


def selectors(args):
    kwargs = {}
    if args.label_selector is not None:
        kwargs["label_selector"] = args.label_selector
    if args.field_selector is not None:
        kwargs["field_selector"] = args.field_selector
    return kwargs


def list_first(list_fn, args):
    """The LIST line's resourceVersion and names, typed or from the raw JSON."""
    if args.untyped:
        resp = list_fn(args.namespace, _preload_content=False, **selectors(args))
        try:
            body = json.loads(resp.data)
        finally:
            resp.release_conn()
        meta = body.get("metadata") or {}
        return meta.get("resourceVersion"), [(i.get("metadata") or {}).get("name") for i in body.get("items") or []]
    result = list_fn(args.namespace, **selectors(args))
    return result.metadata.resource_version, [i.metadata.name for i in result.items or []]


def run(args):
    # Imported here, so that --help and argument errors need no library.
    from kubernetes import client, config, watch

    config.load_kube_config(config_file=args.kubeconfig)
    list_fn = getattr(client.CoreV1Api(), LIST_METHODS[args.resource])
    kwargs = selectors(args)
    if args.list_first:
        rv, names = list_first(list_fn, args)
        emit({"type": "LIST", "resourceVersion": rv, "names": names})
        kwargs["resource_version"] = rv
    elif args.resource_version is not None:
        kwargs["resource_version"] = args.resource_version
    if args.timeout_seconds is not None:
        kwargs["timeout_seconds"] = args.timeout_seconds
    # return_type "object": the ApiClient hands back the decoded JSON as it is.
    w = watch.Watch(return_type="object") if args.untyped else watch.Watch()
    for event in w.stream(list_fn, args.namespace, **kwargs):
        meta = (event.get("raw_object") or {}).get("metadata") or {}
        emit({
            "type": event.get("type"),
            "name": meta.get("name"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": meta.get("labels") or {},
        })


def main(argv):
    args = parse_args(argv)
    try:
        from kubernetes.client.rest import ApiException
    except ImportError as e:
        emit({"type": "EXCEPTION", "status": None, "reason": "the kubernetes package is not installed for %s: %s" % (sys.executable, e)})
        return EXIT_OTHER_FAILURE
    try:
        run(args)
    except ApiException as e:
        emit({"type": "EXCEPTION", "status": e.status, "reason": e.reason})
        return EXIT_API_EXCEPTION
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 -- every other failure is reported as one line, for the test to read
        emit({"type": "EXCEPTION", "status": None, "reason": "%s: %s" % (type(e).__name__, e)})
        return EXIT_OTHER_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
