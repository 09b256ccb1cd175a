// Package job is Skiff's Job controller.
//
// It takes Jobs and Pods from a shared informer factory and runs each Job's
// pods to completion: at most spec.parallelism active at once, until
// spec.completions pods have Succeeded (or, with completions unset, until
// one has succeeded and none is active). Failed pods (restartPolicy Never)
// and container restarts (OnFailure) count against spec.backoffLimit
// (default 6), and failed pods are replaced only after a backoff (10s
// doubling per failure, at most 6m); spec.activeDeadlineSeconds bounds the
// run; spec.suspend stops new pods. Indexed completion mode and
// podFailurePolicy are not implemented. Pods get generateName "<job>-", the labels job-name,
// controller-uid (both plain and batch.kubernetes.io/) and a controller
// ownerReference. It puts out status active/ready/succeeded/failed,
// startTime, completionTime and the Complete or Failed (reasons
// BackoffLimitExceeded, DeadlineExceeded) condition, plus events.
//
// A Job without spec.selector (the API server normally defaults one from
// the job's uid) is handled by selecting on controller-uid=<job uid>.
//
// Use: c := job.New(client, factory, recorder); factory.Start(stop);
// go c.Run(ctx, workers). recorder may be nil.
package job
