{{- define "alisa.name" -}}{{ .Release.Name }}-alisa{{- end -}}

{{- define "alisa.redis" -}}
{{- if .Values.redis.enabled -}}{{ include "alisa.name" . }}-redis:6379{{- else -}}{{ required "redis.connectionString is required when redis.enabled is false" .Values.redis.connectionString }}{{- end -}}
{{- end -}}

{{- define "alisa.clusterEnv" -}}
- name: Cluster__Redis
  value: {{ include "alisa.redis" . | quote }}
- name: Cluster__ClusterId
  value: {{ .Values.cluster.clusterId | quote }}
- name: Cluster__ServiceId
  value: {{ .Values.cluster.serviceId | quote }}
{{- end -}}
