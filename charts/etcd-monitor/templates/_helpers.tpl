{{/* Names, following the prometheus-community charts. */}}
{{- define "etcd-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "etcd-monitor.fullname" -}}
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

{{- define "etcd-monitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "etcd-monitor.labels" -}}
helm.sh/chart: {{ include "etcd-monitor.chart" . }}
{{ include "etcd-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: etcd-monitor
{{- end }}

{{/* Labels that select the pod; never change them after the first install. */}}
{{- define "etcd-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "etcd-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "etcd-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "etcd-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "etcd-monitor.kubeadm" -}}
{{- if eq .Values.preset "kubeadm" }}true{{ end }}
{{- end }}

{{/* Multi-cluster mode: a config file instead of the etcd flags. */}}
{{- define "etcd-monitor.multi" -}}
{{- if .Values.clusters }}true{{ end }}
{{- end }}

{{/*
Sharded: a StatefulSet of sharding.shards replicas splitting the clusters
between them, instead of the one-replica Deployment.
*/}}
{{- define "etcd-monitor.sharded" -}}
{{- if gt (int .Values.sharding.shards) 1 }}true{{ end }}
{{- end }}

{{/* The StatefulSet's headless Service, within the 63 characters of a name. */}}
{{- define "etcd-monitor.headlessServiceName" -}}
{{- include "etcd-monitor.fullname" . | trunc 54 | trimSuffix "-" }}-headless
{{- end }}

{{/* The etcd_cluster label of etcd's own metrics. */}}
{{- define "etcd-monitor.etcdMetricsCluster" -}}
{{- if .Values.etcdMetrics.clusterName }}
{{- .Values.etcdMetrics.clusterName }}
{{- else if include "etcd-monitor.kubeadm" . }}
{{- .Values.kubeadm.clusterName }}
{{- else }}
{{- .Values.etcd.clusterName }}
{{- end }}
{{- end }}

{{/* Labels matched by the Prometheus Operator's selectors. */}}
{{- define "etcd-monitor.promLabels" -}}
{{- with .Values.serviceMonitor.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The chart's paths inside the container. mountPath is a value so the chart
tests can point it at a directory with the same layout.
*/}}
{{- define "etcd-monitor.path.config" -}}{{ .Values.mountPath }}/config{{- end }}
{{- define "etcd-monitor.path.web" -}}{{ .Values.mountPath }}/web{{- end }}
{{- define "etcd-monitor.path.etcdTLS" -}}{{ .Values.mountPath }}/etcd-tls{{- end }}
{{- define "etcd-monitor.path.password" -}}{{ .Values.mountPath }}/etcd-password{{- end }}
{{- define "etcd-monitor.path.kubeadm" -}}{{ .Values.mountPath }}/kubeadm-pki{{- end }}
{{- define "etcd-monitor.path.clusters" -}}{{ .Values.mountPath }}/clusters{{- end }}
{{- define "etcd-monitor.path.webhookToken" -}}{{ .Values.mountPath }}/webhook-token{{- end }}

{{/* A Kubernetes-safe volume name for a cluster entry's secret. */}}
{{- define "etcd-monitor.clusterVolume" -}}
{{- printf "c-%s-%s" .kind (.name | lower | replace "_" "-" | replace "." "-") | trunc 50 | trimSuffix "-" }}-{{ .name | sha256sum | trunc 8 }}
{{- end }}

{{/*
The flags of serve. The kubeadm preset and `clusters` bring their own
endpoints, TLS and auth, so `etcd` is ignored with them (a flag given twice
would be refused).
*/}}
{{- define "etcd-monitor.args" -}}
- serve
- --web.listen-address=:{{ .Values.port }}
- --log.level={{ .Values.logLevel }}
- --log.format={{ .Values.logFormat }}
{{- if .Values.web.existingSecret }}
- --web.config.file={{ include "etcd-monitor.path.web" . }}/{{ .Values.web.configKey }}
{{- end }}
{{- if .Values.webhookToken.existingSecret }}
- --alerts.webhook-token-file={{ include "etcd-monitor.path.webhookToken" . }}/{{ .Values.webhookToken.key }}
{{- end }}
{{- if include "etcd-monitor.multi" . }}
- --config.file={{ include "etcd-monitor.path.config" . }}/clusters.yml
{{- if include "etcd-monitor.sharded" . }}
- --shard.count={{ int .Values.sharding.shards }}
{{- end }}
{{- else if include "etcd-monitor.kubeadm" . }}
- --etcd.endpoints=https://{{ .Values.kubeadm.host }}:{{ .Values.kubeadm.port }}
- --cluster.name={{ .Values.kubeadm.clusterName }}
- --etcd.cacert={{ include "etcd-monitor.path.kubeadm" . }}/ca.crt
- --etcd.cert={{ include "etcd-monitor.path.kubeadm" . }}/healthcheck-client.crt
- --etcd.key={{ include "etcd-monitor.path.kubeadm" . }}/healthcheck-client.key
{{- else }}
{{- if not .Values.etcd.endpoints }}
{{- fail "etcd.endpoints: give at least one etcd client URL, or set preset=kubeadm, or list clusters" }}
{{- end }}
- --etcd.endpoints={{ join "," .Values.etcd.endpoints }}
- --cluster.name={{ .Values.etcd.clusterName }}
{{- end }}
{{- if not (or (include "etcd-monitor.multi" .) (include "etcd-monitor.kubeadm" .)) }}
{{- with .Values.etcd.tls }}
{{- if .existingSecret }}
{{- if .caKey }}
- --etcd.cacert={{ include "etcd-monitor.path.etcdTLS" $ }}/{{ .caKey }}
{{- end }}
{{- if .certKey }}
- --etcd.cert={{ include "etcd-monitor.path.etcdTLS" $ }}/{{ .certKey }}
{{- end }}
{{- if .keyKey }}
- --etcd.key={{ include "etcd-monitor.path.etcdTLS" $ }}/{{ .keyKey }}
{{- end }}
{{- end }}
{{- if .insecureSkipVerify }}
- --etcd.insecure-skip-verify
{{- end }}
{{- end }}
{{- if .Values.etcd.auth.username }}
{{- if not .Values.etcd.auth.passwordSecret.name }}
{{- fail "etcd.auth.username needs etcd.auth.passwordSecret.name: the password comes from an existing Secret" }}
{{- end }}
- --etcd.username={{ .Values.etcd.auth.username }}
- --etcd.password-file={{ include "etcd-monitor.path.password" . }}/{{ .Values.etcd.auth.passwordSecret.key }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . }}
{{- end }}
{{- end }}

{{/*
The multi-cluster config file: the clusters list with the chart-only
passwordSecret and tlsSecret fields turned into file paths.
*/}}
{{- define "etcd-monitor.clustersFile" -}}
{{- $out := list }}
{{- range $c := .Values.clusters }}
{{- $e := omit $c "passwordSecret" "tlsSecret" }}
{{- with $c.passwordSecret }}
{{- $dir := printf "%s/%s" (include "etcd-monitor.path.clusters" $) (include "etcd-monitor.clusterVolume" (dict "kind" "password" "name" $c.name)) }}
{{- $_ := set $e "password_file" (printf "%s/%s" $dir (.key | default "password")) }}
{{- end }}
{{- with $c.tlsSecret }}
{{- $dir := printf "%s/%s" (include "etcd-monitor.path.clusters" $) (include "etcd-monitor.clusterVolume" (dict "kind" "tls" "name" $c.name)) }}
{{- $ca := ternary "ca.crt" .caKey (not (hasKey . "caKey")) }}
{{- $cert := ternary "tls.crt" .certKey (not (hasKey . "certKey")) }}
{{- $key := ternary "tls.key" .keyKey (not (hasKey . "keyKey")) }}
{{- if $ca }}{{ $_ := set $e "ca_file" (printf "%s/%s" $dir $ca) }}{{ end }}
{{- if $cert }}{{ $_ := set $e "cert_file" (printf "%s/%s" $dir $cert) }}{{ end }}
{{- if $key }}{{ $_ := set $e "key_file" (printf "%s/%s" $dir $key) }}{{ end }}
{{- end }}
{{- $out = append $out $e }}
{{- end }}
{{- toYaml (dict "clusters" $out) }}
{{- end }}

{{/*
A client of etcd-monitor's HTTPS listener (the ServiceMonitor, the
AlertmanagerConfig's webhook) must say how it verifies the certificate:
without a CA it would fail every request, so an empty tlsConfig is refused
rather than rendered.
*/}}
{{- define "etcd-monitor.requireClientTLS" -}}
{{- if and .Values.web.tls (not .Values.serviceMonitor.tlsConfig) }}
{{- fail "web.tls needs serviceMonitor.tlsConfig: the CA that verifies etcd-monitor's certificate, e.g. {ca: {secret: {name: etcd-monitor-web, key: ca.crt}}, serverName: etcd-monitor}, or {insecureSkipVerify: true} to choose not to verify it" }}
{{- end }}
{{- end }}

{{/*
The httpConfig of an Alertmanager webhook to etcd-monitor's own
/api/v1/alerts, by Secret reference: what the listener and the webhook
require (web.tls, web.basicAuth, webhookToken). Empty when nothing is.
*/}}
{{- define "etcd-monitor.webhookHTTPConfig" -}}
{{- $c := dict }}
{{- if .Values.web.tls }}
{{- include "etcd-monitor.requireClientTLS" . }}
{{- $_ := set $c "tlsConfig" .Values.serviceMonitor.tlsConfig }}
{{- end }}
{{- if .Values.web.basicAuth }}
{{- if not .Values.serviceMonitor.basicAuth }}
{{- fail "web.basicAuth needs serviceMonitor.basicAuth: the username and password Secret keys the AlertmanagerConfig's webhook sends" }}
{{- end }}
{{- $_ := set $c "basicAuth" .Values.serviceMonitor.basicAuth }}
{{- end }}
{{- with .Values.webhookToken.existingSecret }}
{{- $_ := set $c "authorization" (dict "type" "Bearer" "credentials" (dict "name" . "key" $.Values.webhookToken.key)) }}
{{- end }}
{{- if $c }}{{ toYaml $c }}{{ end }}
{{- end }}

{{/* The scheme of etcd-monitor's listener. */}}
{{- define "etcd-monitor.scheme" -}}
{{- if .Values.web.tls }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Whether the cluster serves a Prometheus Operator kind ("v1/ServiceMonitor"):
without the operator's CRDs the chart still installs the monitor, and leaves
out what the API server would refuse.
*/}}
{{- define "etcd-monitor.hasMonitoringKind" -}}
{{- if .root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/%s" .kind) }}true{{ end }}
{{- end }}
