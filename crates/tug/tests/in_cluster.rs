//! In-cluster access to the API on a real node: the `kubernetes` Service (10.43.0.1:443)
//! points at the API server, every container gets `KUBERNETES_SERVICE_HOST`/`_PORT` and
//! the Service variables of its namespace, and a busybox pod using its mounted
//! ServiceAccount token through `kubernetes.default.svc` may list pods (a RoleBinding
//! grants it) and is denied Secrets by RBAC. Needs the host's `openssl` (apt openssl).

use tug_testkit::Cluster;

const TUG: &str = env!("CARGO_BIN_EXE_tug");

const CLIENT: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-reads-pods}
subjects:
- {kind: ServiceAccount, name: default, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
---
apiVersion: v1
kind: Service
metadata: {name: cache-db}
spec:
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox:latest
    imagePullPolicy: Never
    command: [sleep, "3600"]
    # busybox's own TLS offers only RSA signatures and the API's certificate is ECDSA (as
    # k3s's is): wget uses `openssl s_client` when there is one, so the host's is lent.
    volumeMounts:
    - {name: openssl, mountPath: /bin/openssl, readOnly: true}
    - {name: libs, mountPath: /lib/x86_64-linux-gnu, readOnly: true}
    - {name: loader, mountPath: /lib64, readOnly: true}
  volumes:
  - {name: openssl, hostPath: {path: /usr/bin/openssl, type: File}}
  - {name: libs, hostPath: {path: /usr/lib/x86_64-linux-gnu, type: Directory}}
  - {name: loader, hostPath: {path: /usr/lib64, type: Directory}}
"#;

/// Runs `script` in the client pod; returns its exit status and output.
fn in_pod(cluster: &Cluster, script: &str) -> (bool, String) {
    let out = cluster.kubectl_output(&["exec", "client", "--", "sh", "-c", script]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A request to the API from inside the pod, with the pod's own token.
fn api_request(path: &str) -> String {
    format!(
        "wget -q -O- --no-check-certificate --header \"Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)\" https://kubernetes.default.svc{path} 2>&1"
    )
}

#[test]
fn pods_reach_the_api_by_the_kubernetes_service_with_their_token_under_rbac() {
    let cluster = Cluster::up(TUG);
    // The Service and its endpoint: the API server's own port.
    let service = cluster.get("service", "kubernetes");
    assert_eq!(service["spec"]["clusterIP"], "10.43.0.1", "{service}");
    assert_eq!(service["spec"]["ports"][0]["port"], 443, "{service}");
    let endpoints = cluster.get("endpoints", "kubernetes");
    assert_eq!(endpoints["subsets"][0]["ports"][0]["port"], cluster.port(), "{endpoints}");
    assert_eq!(endpoints["subsets"][0]["addresses"][0]["ip"], "127.0.0.1", "{endpoints}");

    cluster.apply(CLIENT);
    cluster.kubectl(&["wait", "--for=condition=Ready", "pod/client", "--timeout=60s"]);
    let (_, env) = in_pod(&cluster, "env | sort");
    for expected in ["KUBERNETES_SERVICE_HOST=10.43.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443", "CACHE_DB_SERVICE_PORT_REDIS=6379"] {
        assert!(env.lines().any(|l| l == expected), "{expected} missing from the pod's environment:\n{env}");
    }

    // Allowed by the RoleBinding: the pod sees itself in the list.
    let (ok, pods) = in_pod(&cluster, &api_request("/api/v1/namespaces/default/pods"));
    assert!(ok && pods.contains("\"kind\":\"PodList\"") && pods.contains("\"name\":\"client\""), "listing pods from the pod: {pods}");
    // Not granted: Secrets are refused with 403.
    let (ok, secrets) = in_pod(&cluster, &api_request("/api/v1/namespaces/default/secrets"));
    assert!(!ok && secrets.contains("403"), "listing secrets from the pod: {secrets}");
    // Without the token the request is anonymous and refused as well.
    let (ok, anonymous) = in_pod(&cluster, "wget -q -O- --no-check-certificate https://kubernetes.default.svc/api/v1/namespaces/default/pods 2>&1");
    assert!(!ok && anonymous.contains("403"), "anonymous request from the pod: {anonymous}");
}
