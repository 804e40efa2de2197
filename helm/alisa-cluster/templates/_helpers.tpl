{{- define "alisa.name" -}}{{ .Release.Name }}-alisa{{- end -}}

{{- define "alisa.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: alisa-cluster
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "alisa.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "alisa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "alisa.name" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* An image reference: registry/repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "alisa.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- printf "%s%s:%s" (ternary "" (printf "%s/" $registry) (empty $registry)) .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Seconds as a .NET TimeSpan ("d.hh:mm:ss"), valid for any number of seconds: 3600 -> "0.01:00:00". */}}
{{- define "alisa.timespan" -}}
{{- $s := int . -}}
{{- printf "%d.%02d:%02d:%02d" (div $s 86400) (div (mod $s 86400) 3600) (div (mod $s 3600) 60) (mod $s 60) -}}
{{- end -}}

{{- define "alisa.redisSecretName" -}}
{{- default (printf "%s-redis" (include "alisa.name" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/* Cluster settings and the Redis connection string: never a literal password, only secretKeyRefs and
     $(REDIS_PASSWORD) expansion, which Kubernetes resolves from the variable defined just before it. */}}
{{- define "alisa.clusterEnv" -}}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ include "alisa.redisSecretName" . }}, key: {{ .Values.redis.auth.existingSecretKey }} } }
- name: Cluster__Redis
  value: "{{ include "alisa.name" . }}-redis:6379,password=$(REDIS_PASSWORD),abortConnect=false"
{{- else }}
- name: Cluster__Redis
  valueFrom: { secretKeyRef: { name: {{ required "redis.external.existingSecret is required when redis.enabled is false (a Secret holding the StackExchange.Redis connection string)" .Values.redis.external.existingSecret }}, key: {{ .Values.redis.external.existingSecretKey }} } }
{{- end }}
- name: Cluster__ClusterId
  value: {{ .Values.cluster.clusterId | quote }}
- name: Cluster__ServiceId
  value: {{ .Values.cluster.serviceId | quote }}
{{- if .Values.cluster.tls.enabled }}
- { name: Cluster__Tls__Enabled, value: "true" }
- { name: Cluster__Tls__CertificatePath, value: /cluster-tls/tls.crt }
- { name: Cluster__Tls__KeyPath, value: /cluster-tls/tls.key }
- { name: Cluster__Tls__CaPath, value: /cluster-tls/ca.crt }
{{- end }}
{{- end -}}

{{/* The cluster certificate (tls.crt, tls.key, ca.crt) for Orleans mutual TLS, in silos and gateways alike. */}}
{{- define "alisa.clusterTlsMount" -}}
{{- if .Values.cluster.tls.enabled }}
- { name: cluster-tls, mountPath: /cluster-tls, readOnly: true }
{{- end }}
{{- end -}}

{{- define "alisa.clusterTlsVolume" -}}
{{- if .Values.cluster.tls.enabled }}
- name: cluster-tls
  secret: { secretName: {{ required "cluster.tls.secretName is required when cluster.tls.enabled (a Secret with tls.crt, tls.key and ca.crt)" .Values.cluster.tls.secretName }} }
{{- end }}
{{- end -}}

{{- define "alisa.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "alisa.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: [ALL] }
{{- end -}}

{{/* The checkpoint folder the silo loads, by model.source. */}}
{{- define "alisa.modelPath" -}}
{{- if eq .Values.model.source "image" -}}{{ .Values.model.image.path }}
{{- else if eq .Values.model.source "pvc" -}}{{ printf "/models/%s" .Values.model.pvc.path | trimSuffix "/" }}
{{- else if eq .Values.model.source "download" -}}/models/{{ .Values.model.download.folder }}
{{- else -}}{{ fail (printf "model.source must be image, pvc or download, not %q" .Values.model.source) }}
{{- end -}}
{{- end -}}

{{/* Silo memory: the process (weights staged on the host, runtime) + the pinned CPU KV tier + /dev/shm, which counts
     against the pod's limit as a memory-backed emptyDir. */}}
{{- define "alisa.siloMemoryGiB" -}}
{{- add (int .Values.silo.hostMemoryGiB) (int (ceil .Values.silo.cpuKvMemoryGiB)) (int .Values.silo.shmSizeGiB) -}}
{{- end -}}
