// Package validation defaults and validates typed k8s.io/api objects the way
// a Kubernetes API server does before it stores them.
//
// Default(obj) fills in the defaults users see round-trip through the API
// (pod restartPolicy, dnsPolicy, container imagePullPolicy, service type and
// targetPort, deployment strategy, ...). It mutates obj in place; pod
// templates inside workloads get the pod defaults.
//
// Validate(obj) and ValidateUpdate(obj, old) return a field.ErrorList whose
// paths name the offending field (spec.template.spec.containers[0].image).
// The HTTP layer turns a non-empty list into a 422 with
// apierrors.NewInvalid(groupKind, name, errs), which kubectl prints as
// `The Deployment "x" is invalid: <field>: <message>`. ValidateUpdate runs
// Validate on obj and adds the immutable-field checks against old.
// PrepareUpdate(obj, old), called before Default on a full update (PUT),
// carries over server-assigned values the client left out (a Service's
// clusterIP and node ports, a Job's generated selector).
//
// Order on create: Default, then Validate. On update: PrepareUpdate, Default,
// ValidateUpdate. Namespaced objects must carry metadata.namespace (from the
// URL) before validation.
//
// Inputs are typed objects (*corev1.Pod, *appsv1.Deployment, ...); kinds the
// package does not know get only object-metadata validation. The package is
// pure: no I/O, no allocation of cluster IPs or node ports (the server's
// allocators own those).
package validation
