// Package replicaset is Skiff's ReplicaSet controller.
//
// It takes ReplicaSets and Pods from a shared informer factory and makes the
// number of active pods a ReplicaSet controls equal spec.replicas: it creates
// pods from spec.template (generateName "<rs>-", a controller
// ownerReference), deletes surplus ones (not-ready, unscheduled and newest
// first), adopts orphan pods that match the selector and releases owned ones
// that stop matching. It puts out status.replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas (minReadySeconds), observedGeneration and
// a ReplicaFailure condition, plus SuccessfulCreate/SuccessfulDelete/
// FailedCreate events.
//
// Use: c := replicaset.New(client, factory, recorder); factory.Start(stop);
// go c.Run(ctx, workers). recorder may be nil (events are then dropped).
package replicaset
