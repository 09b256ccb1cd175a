// Package deployment is Skiff's Deployment controller.
//
// It takes Deployments, ReplicaSets and Pods from a shared informer factory
// and rolls each Deployment out through ReplicaSets, the way `kubectl rollout`
// expects:
//   - one ReplicaSet per distinct pod template, named "<deploy>-<hash>" where
//     the hash (label pod-template-hash) is an FNV-32a hash of the template
//     and status.collisionCount; RS labels and selector are the template's
//     plus that label, with a controller ownerReference to the Deployment;
//   - RollingUpdate (maxSurge rounded up, maxUnavailable rounded down, as
//     int or percent) and Recreate strategies, proportional scaling while a
//     rollout is in flight, and pause/resume;
//   - revisions in the annotation deployment.kubernetes.io/revision on the
//     RS and the Deployment; a template equal to an old RS's (what
//     `kubectl rollout undo` patches in) re-adopts that RS with a new
//     revision; old RSs beyond revisionHistoryLimit are deleted;
//   - Deployment annotations (kubernetes.io/change-cause...) copied to the RS;
//   - status observedGeneration, replicas, updatedReplicas, readyReplicas,
//     availableReplicas, unavailableReplicas, collisionCount, and conditions
//     Available (MinimumReplicasAvailable) and Progressing (NewReplicaSetCreated,
//     FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
//     ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed).
//
// It puts out ReplicaSet creates/updates/deletes, Deployment status and
// annotation updates, and ScalingReplicaSet events.
//
// Use: c := deployment.New(client, factory, recorder); factory.Start(stop);
// go c.Run(ctx, workers). recorder may be nil.
package deployment
