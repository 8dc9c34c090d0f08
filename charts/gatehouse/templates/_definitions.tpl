{{/*
Names are fixed, not derived from the release name: the operator, its webhook
configuration, Lease and certificate Secret are cluster singletons that the
generated RBAC (templates/rbac.yaml, from src/crd/rbac.ts) names exactly.
*/}}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: gatehouse
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "gatehouse.labels" -}}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/part-of: gatehouse
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gatehouse.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* "true" when the store is SQLite: no Secret named and a DSN that is not PostgreSQL's. */}}
{{- define "gatehouse.sqlite" -}}
{{- if and (not .Values.store.secretName) (not (regexMatch "^postgres(ql)?://" .Values.store.dsn)) -}}
true
{{- end -}}
{{- end -}}

{{/* Settings that cannot work together fail the install with the fix. */}}
{{- define "gatehouse.validate" -}}
{{- if and (not .Values.store.secretName) (not .Values.store.dsn) -}}
{{- fail "store: set store.secretName (a Secret holding the PostgreSQL DSN) or store.dsn (an SQLite file, e.g. sqlite:/var/lib/gatehouse/gatehouse.db)" -}}
{{- end -}}
{{- if and (not .Values.store.secretName) (regexMatch "^postgres(ql)?://" .Values.store.dsn) -}}
{{- fail "store.dsn is a PostgreSQL DSN, which would put its password into the Deployment: put it into a Secret (key dsn) and set store.secretName instead" -}}
{{- end -}}
{{- if and (include "gatehouse.sqlite" .) (gt (int .Values.replicaCount) 1) -}}
{{- fail "SQLite is one file on one volume and cannot be shared between pods: set replicaCount=1, or use PostgreSQL through store.secretName" -}}
{{- end -}}
{{- $mount := printf "%s/" (trimSuffix "/" .Values.store.persistence.mountPath) -}}
{{- if and (include "gatehouse.sqlite" .) (not (hasPrefix $mount (trimPrefix "sqlite:" .Values.store.dsn))) -}}
{{- fail (printf "store.dsn must name a file under store.persistence.mountPath (%s), or the database is not on the volume" .Values.store.persistence.mountPath) -}}
{{- end -}}
{{- end -}}
