// Package garbagecollector is Skiff's ownerReference garbage collector.
//
// It takes informers for every kind Skiff serves that can own or be owned
// (pods, services, endpoints, configmaps, secrets, serviceaccounts, nodes,
// deployments, replicasets, daemonsets, jobs, endpointslices, leases) from a
// shared informer factory, keeps a graph of owner UID -> dependents, and:
//   - background: deletes a dependent once all its owners are gone (a live
//     GET confirms an owner missing from the cache before anything is
//     deleted); dangling references next to live owners are just removed;
//   - foreground: for an owner being deleted with the foregroundDeletion
//     finalizer, deletes its dependents (foreground in turn when they have
//     dependents of their own) and removes the finalizer once no dependent
//     with blockOwnerDeletion=true is left;
//   - orphan: for an owner being deleted with the orphan finalizer, strips
//     the owner's reference from every dependent, then removes the finalizer.
//
// Writes go through the typed clientset (a small per-kind table); finalizer
// and ownerReference edits are read-modify-write updates retried on conflict.
// Kinds outside the table are never deleted on an owner's behalf: an owner
// of an unknown kind counts as present.
//
// Use: c := garbagecollector.New(client, factory); factory.Start(stop);
// go c.Run(ctx, workers).
package garbagecollector
