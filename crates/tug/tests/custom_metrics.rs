//! Custom metrics on a real node: busybox pods serve Prometheus text from an httpd CGI
//! script (a gauge read from a file the test rewrites through `kubectl exec`, and a
//! counter that grows 10 a second with the clock) and are annotated
//! `prometheus.io/scrape`; the agent scrapes them and the API server serves
//! `custom.metrics.k8s.io/v1beta2`, which `kubectl get --raw` reads and the HPA
//! controller scales on: a Pods metric scales a Deployment up and back down, an Object
//! metric of a Service scales a StatefulSet; pods that are not scraped and an unknown
//! metric get clear reasons; a joined node's pods are scraped by that node's agent.
//! Needs root and busybox.

use serde_json::Value;
use tug_testkit::{text, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");
const API: &str = "/apis/custom.metrics.k8s.io/v1beta2";

/// The exporter script and a pod template running it, labelled `app: NAME`
/// (`extra_spec` goes into the workload's spec, `pod_spec` into the pods').
fn exporter(kind: &str, name: &str, extra_spec: &str, pod_spec: &str) -> String {
    format!(
        r##"
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}-exporter}}
data:
  metrics: |
    #!/bin/sh
    echo "Content-Type: text/plain; version=0.0.4"
    echo
    echo "# HELP queue_depth Jobs waiting."
    echo "# TYPE queue_depth gauge"
    echo "queue_depth $(cat /tmp/depth 2>/dev/null || echo 1)"
    echo "# TYPE ticks_total counter"
    echo "ticks_total $(( $(date +%s) * 10 ))"
---
apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}}}
spec:
  replicas: 1
  {extra_spec}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{prometheus.io/scrape: "true", prometheus.io/port: "8080", prometheus.io/path: /cgi-bin/metrics}}
    spec:
      terminationGracePeriodSeconds: 1
      {pod_spec}
      volumes: [{{name: scripts, configMap: {{name: {name}-exporter}}}}]
      containers:
      - name: exporter
        image: busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /www/cgi-bin && cp /scripts/metrics /www/cgi-bin/metrics && chmod 755 /www/cgi-bin/metrics && exec httpd -f -p 8080 -h /www']
        volumeMounts: [{{name: scripts, mountPath: /scripts}}]
"##
    )
}

/// A quantity as the API prints it ("2500m", "10") as a number.
fn number(quantity: &str) -> f64 {
    match quantity.strip_suffix('m') {
        Some(millis) => millis.parse::<f64>().unwrap() / 1000.0,
        None => quantity.parse().unwrap(),
    }
}

/// `kubectl get --raw` of a custom metrics path, if it answered.
fn raw(cluster: &Cluster, path: &str) -> Result<Value, String> {
    let out = cluster.kubectl_output(&["get", "--raw", &format!("{API}{path}")]);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(text(&out))
    }
}

fn replicas(cluster: &Cluster, kind: &str, name: &str) -> i64 {
    cluster.get(kind, name)["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn condition(hpa: &Value, type_: &str) -> Option<(String, String, String)> {
    let c = hpa["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// Sets the gauge of one pod.
fn set_depth(cluster: &Cluster, pod: &str, depth: u32) {
    cluster.kubectl(&["exec", pod, "--", "sh", "-c", &format!("echo {depth} > /tmp/depth")]);
}

#[test]
fn a_pods_metric_scales_a_deployment_up_and_down_and_get_raw_shows_it() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(&format!(
        "{}---{}",
        exporter("Deployment", "queue", "", ""),
        r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: queue}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: queue}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Pods
    pods: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: "10"}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 0
      policies: [{type: Percent, value: 100, periodSeconds: 15}]
"#
    ));
    cluster.kubectl(&["rollout", "status", "deployment/queue", "--timeout=90s"]);

    // The gauge as written, the counter as a rate of about 10 a second, under its name without _total.
    let mut listed = Value::Null;
    cluster.eventually("the API serves the pod's gauge and counter rate", 60, || {
        let (Ok(depth), Ok(ticks)) = (raw(&cluster, "/namespaces/default/pods/*/queue_depth?labelSelector=app%3Dqueue"), raw(&cluster, "/namespaces/default/pods/*/ticks?labelSelector=app%3Dqueue")) else {
            return false;
        };
        listed = depth;
        let rate = number(ticks["items"][0]["value"].as_str().unwrap_or("0"));
        assert!((7.0..=13.0).contains(&rate), "10 ticks a second: {ticks}");
        assert!(ticks["items"][0]["windowSeconds"].as_i64().is_some_and(|w| w > 0), "{ticks}");
        true
    });
    assert_eq!(listed["kind"], "MetricValueList");
    let item = &listed["items"][0];
    assert_eq!((item["value"].as_str(), item["describedObject"]["kind"].as_str(), item["metric"]["name"].as_str()), (Some("1"), Some("Pod"), Some("queue_depth")), "{listed}");
    let pod = item["describedObject"]["name"].as_str().unwrap().to_string();
    let discovery = cluster.kubectl(&["get", "--raw", API]);
    assert!(discovery.contains("\"pods/queue_depth\"") && discovery.contains("\"services/ticks\""), "{discovery}");

    // 30 waiting on one pod against 10 per pod: three pods.
    set_depth(&cluster, &pod, 30);
    cluster.eventually("the HPA scales the Deployment to 3 on the Pods metric", 120, || replicas(&cluster, "deployment", "queue") == 3);
    let hpa = cluster.get("hpa", "queue");
    assert_eq!(hpa["status"]["currentMetrics"][0]["type"], "Pods", "{hpa}");
    assert_eq!(hpa["status"]["currentMetrics"][0]["pods"]["metric"]["name"], "queue_depth", "{hpa}");
    let (status, reason, _) = condition(&hpa, "ScalingActive").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "ValidMetricFound"), "{hpa}");
    let events = cluster.kubectl(&["get", "events", "--field-selector", "involvedObject.name=queue,reason=SuccessfulRescale", "-o", "json"]);
    assert!(events.contains("pods metric queue_depth above target"), "{events}");

    // Back to 1 waiting: one pod.
    set_depth(&cluster, &pod, 1);
    cluster.eventually("the HPA scales the Deployment back to 1", 120, || replicas(&cluster, "deployment", "queue") == 1);
}

#[test]
fn an_object_metric_scales_a_statefulset_and_unscraped_pods_or_unknown_metrics_say_why() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(&format!(
        "{}---{}",
        exporter("StatefulSet", "shard", "serviceName: shard\n  podManagementPolicy: Parallel", ""),
        r#"
apiVersion: v1
kind: Service
metadata: {name: shard}
spec:
  clusterIP: None
  selector: {app: shard}
  ports: [{port: 8080}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: shard}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: shard}
  minReplicas: 1
  maxReplicas: 2
  metrics:
  - type: Object
    object:
      describedObject: {apiVersion: v1, kind: Service, name: shard}
      metric: {name: queue_depth}
      target: {type: Value, value: "10"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: sleeper, image: busybox:latest, imagePullPolicy: Never, command: [sleep, "3600"]}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: plain}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: plain}
  maxReplicas: 3
  metrics:
  - type: Pods
    pods: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: "10"}}
"#
    ));
    cluster.kubectl(&["rollout", "status", "statefulset/shard", "--timeout=90s"]);

    // The Service's value is its pods' sum.
    let mut service = Value::Null;
    cluster.eventually("the API serves the Service's metric", 60, || {
        raw(&cluster, "/namespaces/default/services/shard/queue_depth").map(|v| service = v).is_ok()
    });
    let item = &service["items"][0];
    assert_eq!((item["describedObject"]["kind"].as_str(), item["describedObject"]["name"].as_str(), item["value"].as_str()), (Some("Service"), Some("shard"), Some("1")), "{service}");

    // An unknown metric, and pods that are not scraped: 404s that say why.
    let unknown = raw(&cluster, "/namespaces/default/pods/*/nope?labelSelector=app%3Dshard").unwrap_err();
    assert!(unknown.contains("the server could not find the metric nope for pods") && unknown.contains("the pods expose no series named nope (they expose: queue_depth"), "{unknown}");
    let mut found = None;
    cluster.eventually("the HPA on unscraped pods reports ScalingActive=False", 90, || {
        found = condition(&cluster.get("hpa", "plain"), "ScalingActive");
        found.is_some()
    });
    let (status, reason, message) = found.unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "FailedGetPodsMetric"), "{message}");
    assert!(message.contains("is annotated prometheus.io/scrape: \"true\""), "{message}");

    // 25 waiting behind the Service against a value of 10: more shards, up to maxReplicas 2.
    set_depth(&cluster, "shard-0", 25);
    cluster.eventually("the HPA scales the StatefulSet on the Object metric", 120, || replicas(&cluster, "statefulset", "shard") == 2);
    let hpa = cluster.get("hpa", "shard");
    let current = &hpa["status"]["currentMetrics"][0];
    assert_eq!((current["type"].as_str(), current["object"]["describedObject"]["kind"].as_str()), (Some("Object"), Some("Service")), "{hpa}");
    assert!(number(current["object"]["current"]["value"].as_str().unwrap()) >= 25.0, "{hpa}");
    cluster.kubectl(&["rollout", "status", "statefulset/shard", "--timeout=90s"]);
    assert_eq!(replicas(&cluster, "deployment", "plain"), 1, "an HPA without a metric leaves its target alone");
}

#[test]
fn each_node_scrapes_its_own_pods_and_a_namespace_sums_them() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let mut cluster = Cluster::up(TUG);
    cluster.join_agent("second");
    let on_second = "nodeSelector: {kubernetes.io/hostname: second}";
    // Pinned too: the scheduler may put an unpinned pod on either node.
    let nodes = cluster.kubectl(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    let first = nodes.split_whitespace().find(|n| *n != "second").expect("the first node").to_string();
    let on_first = format!("nodeSelector: {{kubernetes.io/hostname: {first}}}");
    cluster.apply(&format!("{}---{}", exporter("Deployment", "near", "", &on_first), exporter("Deployment", "far", "", on_second)));
    cluster.kubectl(&["rollout", "status", "deployment/near", "--timeout=90s"]);
    cluster.kubectl(&["rollout", "status", "deployment/far", "--timeout=90s"]);
    let far = cluster.kubectl(&["get", "pods", "-l", "app=far", "-o", "jsonpath={.items[0].spec.nodeName}"]);
    let near = cluster.kubectl(&["get", "pods", "-l", "app=near", "-o", "jsonpath={.items[0].spec.nodeName}"]);
    assert_eq!(far.trim(), "second");
    assert_ne!(near.trim(), "second");
    // The namespace's value is the sum over its pods, wherever they run.
    let mut namespace = Value::Null;
    cluster.eventually("the namespace's metric sums the pods of both nodes", 60, || {
        raw(&cluster, "/namespaces/default/metrics/queue_depth").is_ok_and(|v| {
            namespace = v;
            namespace["items"][0]["value"] == "2"
        })
    });
    assert_eq!(namespace["items"][0]["describedObject"]["kind"], "Namespace", "{namespace}");
    let far_pod = raw(&cluster, "/namespaces/default/pods/*/queue_depth?labelSelector=app%3Dfar").unwrap();
    assert_eq!(far_pod["items"][0]["value"], "1", "{far_pod}");
}
