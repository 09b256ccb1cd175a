// Package namespace is Skiff's namespace lifecycle controller.
//
// It takes Namespaces from a shared informer factory. For a namespace being
// deleted (deletionTimestamp set, status.phase Terminating) whose
// spec.finalizers still holds "kubernetes", it deletes every object inside
// (pods, services, endpoints, endpointslices, configmaps, secrets,
// serviceaccounts, events, leases, deployments, replicasets, daemonsets,
// jobs) with background propagation, waits until none is left (pods may
// linger until their kubelet finishes them), reporting the wait in the
// NamespaceContentRemaining / NamespaceFinalizersRemaining conditions, and
// then finalizes the namespace through PUT /api/v1/namespaces/<ns>/finalize
// (falling back to a plain update if that subresource is missing), after
// which the API server removes it.
//
// Use: c := namespace.New(client, factory); factory.Start(stop);
// go c.Run(ctx, workers).
package namespace
