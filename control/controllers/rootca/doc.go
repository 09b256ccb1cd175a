// Package rootca publishes the cluster CA into every namespace, as
// Kubernetes' root-ca-cert-publisher does.
//
// It takes Namespaces and ConfigMaps from a shared informer factory and the
// cluster CA certificate (PEM), and puts out ConfigMap writes: every active
// namespace gets a ConfigMap named kube-root-ca.crt whose data is exactly
// {"ca.crt": <CA PEM>}. A deleted one is created again and a changed one is
// put back; terminating namespaces are left alone. Pods read it through the
// kube-api-access projected volume the API server injects, to verify the
// API server at kubernetes.default.svc.
//
// Use: c := rootca.New(client, factory, caPEM); factory.Start(stop);
// go c.Run(ctx, workers).
package rootca
