//! Autoscaling on a real node: `kubectl top pods|nodes` reads `metrics.k8s.io`, which the
//! API server gathers from the agent's cgroup samples; a Deployment whose busybox httpd
//! pods burn CPU in a CGI script on each request scales up under load from the test
//! (through its ClusterIP Service) and back down once the load stops, after the short
//! scale-down stabilization window its HPA's `behavior` sets; an HPA whose target is
//! missing, or of a kind without a scale subresource, says so in its AbleToScale
//! condition. Needs root and busybox; the Service needs `nft` (apt nftables).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tug_testkit::{try_get, Cluster};

const TUG: &str = env!("CARGO_BIN_EXE_tug");

/// The CGI script counts to 300000 in the shell: a fraction of a CPU-second per request.
const BURNER: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: burn}
data:
  burn: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    i=0
    while [ $i -lt 300000 ]; do i=$((i+1)); done
    echo burnt
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: scripts, configMap: {name: burn}}]
      containers:
      - name: httpd
        image: busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /www/cgi-bin && cp /scripts/burn /www/cgi-bin/burn && chmod 755 /www/cgi-bin/burn && exec httpd -f -p 8080 -h /www']
        volumeMounts: [{name: scripts, mountPath: /scripts}]
        resources: {requests: {cpu: 100m, memory: 16Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: burner}
spec:
  selector: {app: burner}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burner}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 10
      policies: [{type: Percent, value: 100, periodSeconds: 15}]
"#;

fn replicas(cluster: &Cluster) -> i64 {
    cluster.get("deployment", "burner")["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn condition(hpa: &Value, type_: &str) -> Option<(String, String, String)> {
    let c = hpa["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

#[test]
fn load_scales_a_deployment_up_and_back_down_and_top_shows_usage() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(BURNER);
    cluster.kubectl(&["rollout", "status", "deployment/burner", "--timeout=90s"]);

    // Usage shows once the agent has sampled the container twice.
    let mut top = String::new();
    cluster.eventually("kubectl top pods lists the burner pod", 60, || {
        let out = cluster.kubectl_output(&["top", "pods", "-l", "app=burner"]);
        top = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success() && top.contains("burner-")
    });
    let row: Vec<&str> = top.lines().find(|l| l.starts_with("burner-")).unwrap().split_whitespace().collect();
    assert!(row[1].ends_with('m') && row[2].ends_with("Mi"), "CPU in millicores, memory in Mi: {top}");
    let nodes = cluster.kubectl(&["top", "nodes"]);
    let header: Vec<&str> = nodes.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header.first(), Some(&"NAME"), "{nodes}");
    assert!(nodes.lines().nth(1).is_some_and(|l| l.contains('%')), "a node row with usage percentages: {nodes}");
    let listed: Value = serde_json::from_str(&cluster.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dburner"])).unwrap();
    assert_eq!(listed["kind"], "PodMetricsList");
    assert_eq!(listed["items"][0]["containers"][0]["name"], "httpd");

    // Load through the Service until told to stop.
    let ip = cluster.get("service", "burner")["spec"]["clusterIP"].as_str().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ip) = (stop.clone(), ip.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = try_get(&ip, 80, "/cgi-bin/burn");
                }
            })
        })
        .collect();
    let loaded = std::time::Instant::now();
    let grown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cluster.eventually("the HPA scales the Deployment up under load", 150, || replicas(&cluster) > 1);
    }));
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        let _ = thread.join();
    }
    if let Err(panic) = grown {
        std::panic::resume_unwind(panic);
    }
    eprintln!("load to scale-up: {:.1} s", loaded.elapsed().as_secs_f64());
    let idle = std::time::Instant::now();
    let hpa = cluster.get("hpa", "burner");
    assert_eq!(hpa["status"]["currentMetrics"][0]["resource"]["name"], "cpu", "{hpa}");
    assert!(hpa["status"]["lastScaleTime"].is_string(), "{hpa}");
    let (status, reason, _) = condition(&hpa, "ScalingActive").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "ValidMetricFound"), "{hpa}");
    let events = cluster.kubectl(&["get", "events", "--field-selector", "involvedObject.name=burner,reason=SuccessfulRescale", "-o", "json"]);
    assert!(events.contains("New size: "), "{events}");

    // Idle again: back to minReplicas once the 10 s window has passed.
    cluster.eventually("the HPA scales the Deployment back down", 150, || replicas(&cluster) == 1);
    eprintln!("load stopped to scale-down (10 s window): {:.1} s", idle.elapsed().as_secs_f64());
    let hpa = cluster.get("hpa", "burner");
    assert_eq!(hpa["status"]["desiredReplicas"], 1, "{hpa}");
}

#[test]
fn an_hpa_on_a_missing_target_or_a_kind_without_scale_gets_a_condition() {
    if !tug_testkit::can_run_pods() {
        return;
    }
    let cluster = Cluster::up(TUG);
    cluster.apply(
        r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: missing}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nope}
  maxReplicas: 3
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: unscalable}
spec:
  scaleTargetRef: {apiVersion: v1, kind: ConfigMap, name: kube-root-ca.crt}
  maxReplicas: 3
"#,
    );
    let mut found = (None, None);
    cluster.eventually("both HPAs report AbleToScale=False", 60, || {
        found = (condition(&cluster.get("hpa", "missing"), "AbleToScale"), condition(&cluster.get("hpa", "unscalable"), "AbleToScale"));
        found.0.is_some() && found.1.is_some()
    });
    let (status, reason, message) = found.0.unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "FailedGetScale"));
    assert!(message.contains("deployments.apps \"nope\" not found"), "{message}");
    let (status, _, message) = found.1.unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("ConfigMap has no scale subresource"), "{message}");
    // The server and controller are still serving.
    let described = cluster.kubectl(&["describe", "hpa", "missing"]);
    assert!(described.contains("FailedGetScale"), "{described}");
}
