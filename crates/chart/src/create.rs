//! `tug chart create NAME`: a new chart directory to start from: a Deployment and a
//! Service of an nginx image with the usual knobs (replicas, image, service, resources,
//! ingress off), name helpers, notes and a connection test.

use std::path::{Path, PathBuf};

use crate::Error;

const VALUES: &str = r#"# Default values for CHARTNAME. Override with -f FILE or --set key=value.
replicaCount: 1

image:
  repository: nginx
  pullPolicy: IfNotPresent
  # Defaults to the chart's appVersion.
  tag: ""

nameOverride: ""
fullnameOverride: ""

podAnnotations: {}
podLabels: {}

service:
  type: ClusterIP
  port: 80

resources: {}

nodeSelector: {}
tolerations: []
affinity: {}
"#;

const HELPERS: &str = r#"{{/* The chart name, shortened to what a label value may hold. */}}
{{- define "CHARTNAME.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name objects get: release-chart, unless the release name holds the chart name. */}}
{{- define "CHARTNAME.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "CHARTNAME.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "CHARTNAME.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods. */}}
{{- define "CHARTNAME.selectorLabels" -}}
app.kubernetes.io/name: {{ include "CHARTNAME.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "CHARTNAME.fullname" . }}
  labels:
    {{- include "CHARTNAME.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "CHARTNAME.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      labels:
        {{- include "CHARTNAME.selectorLabels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
              protocol: TCP
          readinessProbe:
            httpGet:
              path: /
              port: http
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ include "CHARTNAME.fullname" . }}
  labels:
    {{- include "CHARTNAME.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      name: http
  selector:
    {{- include "CHARTNAME.selectorLabels" . | nindent 4 }}
"#;

const NOTES: &str = r#"{{ include "CHARTNAME.fullname" . }} is installed in namespace {{ .Release.Namespace }}.

Reach it from inside the cluster at:
  http://{{ include "CHARTNAME.fullname" . }}.{{ .Release.Namespace }}.svc.cluster.local:{{ .Values.service.port }}
"#;

const TEST: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: "{{ include "CHARTNAME.fullname" . }}-test-connection"
  labels:
    {{- include "CHARTNAME.labels" . | nindent 4 }}
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      command: ['wget']
      args: ['-q', '-O-', '{{ include "CHARTNAME.fullname" . }}:{{ .Values.service.port }}']
  restartPolicy: Never
"#;

const IGNORE: &str = "# Files left out of `tug chart package` (one pattern a line, as .gitignore).\n.git/\n.gitignore\n*.swp\n*.bak\n*.tmp\n*.orig\n*~\n.DS_Store\n.idea/\n.vscode/\n";

/// Creates chart `name` under `parent`; refuses to overwrite an existing directory.
pub fn create(parent: &Path, name: &str) -> Result<PathBuf, Error> {
    if name.is_empty()
        || name.contains('/')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Validation(format!(
            "chart name {name:?} is invalid: use letters, digits, '-' and '_'"
        )));
    }
    let dir = parent.join(name);
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| Error::Io { path: p, source: e }
    };
    if dir.exists() {
        return Err(Error::Validation(format!(
            "{} already exists; choose another name or remove it",
            dir.display()
        )));
    }
    let chart_yaml = format!(
        "apiVersion: v2\nname: {name}\ndescription: A Helm chart for Kubernetes\ntype: application\nversion: 0.1.0\nappVersion: \"1.27.0\"\n"
    );
    let files: [(&str, String); 8] = [
        ("Chart.yaml", chart_yaml),
        ("values.yaml", VALUES.to_string()),
        (".helmignore", IGNORE.to_string()),
        ("templates/_helpers.tpl", HELPERS.to_string()),
        ("templates/deployment.yaml", DEPLOYMENT.to_string()),
        ("templates/service.yaml", SERVICE.to_string()),
        ("templates/NOTES.txt", NOTES.to_string()),
        ("templates/tests/test-connection.yaml", TEST.to_string()),
    ];
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, text.replace("CHARTNAME", name)).map_err(io(&path))?;
    }
    std::fs::create_dir_all(dir.join("charts")).map_err(io(&dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_chart_renders() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::create(tmp.path(), "web").unwrap();
        let chart = crate::load(&dir).unwrap();
        let out = crate::template(&chart, &crate::TemplateOptions::default()).unwrap();
        assert!(out.contains("kind: Deployment"), "{out}");
        assert!(out.contains("name: release-name-web"), "{out}");
        assert!(out.contains("image: \"nginx:1.27.0\""), "{out}");
        assert!(super::create(tmp.path(), "web").is_err(), "no overwrite");
        assert!(super::create(tmp.path(), "a/b").is_err());
    }
}
