{{/*
The pod template of the Deployment (one replica) and of the StatefulSet
(sharding.shards > 1): both run the same pod, so every replica reads the
same clusters ConfigMap and Secrets.
*/}}
{{- define "etcd-monitor.podTemplate" -}}
{{- $kubeadm := include "etcd-monitor.kubeadm" . }}
{{- $multi := include "etcd-monitor.multi" . }}
{{- if and .Values.web.basicAuth (not .Values.web.existingSecret) }}
{{- fail "web.basicAuth needs web.existingSecret: the web config file naming the users" }}
{{- end }}
{{- if and .Values.web.tls (not .Values.web.existingSecret) }}
{{- fail "web.tls needs web.existingSecret: the web config file and its certificate" }}
{{- end }}
{{- if and .Values.web.basicAuth .Values.webhookToken.existingSecret }}
{{- fail "webhookToken and web.basicAuth: both need the Authorization header, so no webhook could post to /api/v1/alerts; basic auth already guards it, leave webhookToken.existingSecret empty" }}
{{- end }}
{{- if and $kubeadm $multi }}
{{- fail "preset=kubeadm and clusters: the preset watches this cluster's etcd through the control-plane node's certificate files, which clusters does not mount (nor run as root on a control-plane node for); set one of them, and list this cluster's etcd as a clusters entry with a tlsSecret to watch it with the others" }}
{{- end -}}
metadata:
  {{- if or $multi .Values.podAnnotations }}
  annotations:
    {{- if $multi }}
    # Roll the pod when the clusters file changes.
    checksum/clusters: {{ include "etcd-monitor.clustersFile" . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  labels:
    {{- include "etcd-monitor.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "etcd-monitor.serviceAccountName" . }}
  # etcd-monitor never calls the Kubernetes API.
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  # Keep resolving cluster names on the host network.
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- if $kubeadm }}
    {{- /* kubeadm writes healthcheck-client.key as root, mode 0600: only uid 0 reads it. */}}
    {{- toYaml (merge (dict "runAsUser" 0 "runAsNonRoot" false) (omit .Values.podSecurityContext "runAsUser" "runAsNonRoot")) | nindent 4 }}
    {{- else }}
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
    {{- end }}
  {{- if or .Values.nodeSelector $kubeadm }}
  nodeSelector:
    {{- if .Values.nodeSelector }}
    {{- toYaml .Values.nodeSelector | nindent 4 }}
    {{- else }}
    node-role.kubernetes.io/control-plane: ""
    {{- end }}
  {{- end }}
  {{- if or .Values.tolerations $kubeadm }}
  tolerations:
    {{- if .Values.tolerations }}
    {{- toYaml .Values.tolerations | nindent 4 }}
    {{- else }}
    - key: node-role.kubernetes.io/control-plane
      operator: Exists
      effect: NoSchedule
    {{- end }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: etcd-monitor
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- include "etcd-monitor.args" . | nindent 8 }}
      {{- $hostIP := and $kubeadm (not $multi) }}
      {{- $sharded := include "etcd-monitor.sharded" . }}
      {{- $memoryLimit := dig "limits" "memory" "" (.Values.resources | default dict) }}
      {{- if or $hostIP $sharded $memoryLimit }}
      env:
        {{- if $hostIP }}
        # The node's IP: kubeadm's etcd listens on it, and its server
        # certificate names it. Kubernetes expands $(HOST_IP) in args.
        - name: HOST_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        {{- end }}
        {{- if $sharded }}
        # --shard.index, which serve reads from this variable: the ordinal
        # the StatefulSet gives the pod (0 to shards-1), as its label.
        - name: ETCD_MONITOR_SHARD_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
        {{- if $memoryLimit }}
        # The memory limit in bytes: the Go runtime collects garbage harder
        # as the heap nears it, instead of growing into the OOM killer.
        # Without a limit the kubelet would give the node's memory, so the
        # variable is only set with one.
        - name: GOMEMLIMIT
          valueFrom:
            resourceFieldRef:
              resource: limits.memory
        {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.port }}
          protocol: TCP
      {{- if .Values.web.basicAuth }}
      # Basic auth: the kubelet cannot send credentials from a Secret, so
      # the probes only check the port is open.
      livenessProbe:
        tcpSocket:
          port: http
        {{- omit .Values.livenessProbe "httpGet" | toYaml | nindent 8 }}
      readinessProbe:
        tcpSocket:
          port: http
        {{- omit .Values.readinessProbe "httpGet" | toYaml | nindent 8 }}
      {{- else }}
      livenessProbe:
        httpGet:
          path: /health
          port: http
          scheme: {{ include "etcd-monitor.scheme" . | upper }}
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /health
          port: http
          scheme: {{ include "etcd-monitor.scheme" . | upper }}
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- if $multi }}
        - name: config
          mountPath: {{ include "etcd-monitor.path.config" . }}
          readOnly: true
        {{- range $c := .Values.clusters }}
        {{- if $c.passwordSecret }}
        - name: {{ include "etcd-monitor.clusterVolume" (dict "kind" "password" "name" $c.name) }}
          mountPath: {{ include "etcd-monitor.path.clusters" $ }}/{{ include "etcd-monitor.clusterVolume" (dict "kind" "password" "name" $c.name) }}
          readOnly: true
        {{- end }}
        {{- if $c.tlsSecret }}
        - name: {{ include "etcd-monitor.clusterVolume" (dict "kind" "tls" "name" $c.name) }}
          mountPath: {{ include "etcd-monitor.path.clusters" $ }}/{{ include "etcd-monitor.clusterVolume" (dict "kind" "tls" "name" $c.name) }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- else }}
        {{- if $kubeadm }}
        {{- range list "ca.crt" "healthcheck-client.crt" "healthcheck-client.key" }}
        - name: kubeadm-{{ . | replace "." "-" }}
          mountPath: {{ include "etcd-monitor.path.kubeadm" $ }}/{{ . }}
          readOnly: true
        {{- end }}
        {{- else }}
        {{- if .Values.etcd.tls.existingSecret }}
        - name: etcd-tls
          mountPath: {{ include "etcd-monitor.path.etcdTLS" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.etcd.auth.username }}
        - name: etcd-password
          mountPath: {{ include "etcd-monitor.path.password" . }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- end }}
        {{- if .Values.web.existingSecret }}
        - name: web-config
          mountPath: {{ include "etcd-monitor.path.web" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.webhookToken.existingSecret }}
        - name: webhook-token
          mountPath: {{ include "etcd-monitor.path.webhookToken" . }}
          readOnly: true
        {{- end }}
  volumes:
    {{- if $multi }}
    - name: config
      configMap:
        name: {{ include "etcd-monitor.fullname" . }}-clusters
    {{- range $c := .Values.clusters }}
    {{- with $c.passwordSecret }}
    - name: {{ include "etcd-monitor.clusterVolume" (dict "kind" "password" "name" $c.name) }}
      secret:
        secretName: {{ required (printf "clusters[%s].passwordSecret.name is required" $c.name) .name }}
        items:
          - key: {{ .key | default "password" }}
            path: {{ .key | default "password" }}
    {{- end }}
    {{- with $c.tlsSecret }}
    - name: {{ include "etcd-monitor.clusterVolume" (dict "kind" "tls" "name" $c.name) }}
      secret:
        secretName: {{ required (printf "clusters[%s].tlsSecret.name is required" $c.name) .name }}
    {{- end }}
    {{- end }}
    {{- else }}
    {{- if $kubeadm }}
    # Only the three files the monitor needs, never the directory (it also
    # holds etcd's server and peer keys).
    {{- range list "ca.crt" "healthcheck-client.crt" "healthcheck-client.key" }}
    - name: kubeadm-{{ . | replace "." "-" }}
      hostPath:
        path: {{ $.Values.kubeadm.pkiDir }}/{{ . }}
        type: File
    {{- end }}
    {{- else }}
    {{- if .Values.etcd.tls.existingSecret }}
    - name: etcd-tls
      secret:
        secretName: {{ .Values.etcd.tls.existingSecret }}
    {{- end }}
    {{- if .Values.etcd.auth.username }}
    - name: etcd-password
      secret:
        secretName: {{ .Values.etcd.auth.passwordSecret.name }}
        items:
          - key: {{ .Values.etcd.auth.passwordSecret.key }}
            path: {{ .Values.etcd.auth.passwordSecret.key }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- if .Values.web.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ .Values.web.existingSecret }}
    {{- end }}
    {{- with .Values.webhookToken }}
    {{- if .existingSecret }}
    - name: webhook-token
      secret:
        secretName: {{ .existingSecret }}
        items:
          - key: {{ .key }}
            path: {{ .key }}
    {{- end }}
    {{- end }}
{{- end }}
