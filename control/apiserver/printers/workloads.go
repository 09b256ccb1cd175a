package printers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

var (
	containersColumn = wide("Containers", "string", "Names of each container in the template.")
	imagesColumn     = wide("Images", "string", "Images referenced by each container in the template.")
	selectorColumn   = wide("Selector", "string", "Label selector for the pods this object manages.")
)

func init() {
	register(appsv1.Deployment{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Ready", "string", "Number of ready pods out of the desired replicas."),
			col("Up-to-date", "integer", "Total number of pods that run the desired template."),
			col("Available", "integer", "Total number of available pods (ready for at least minReadySeconds)."),
			ageColumn, containersColumn, imagesColumn, selectorColumn,
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			d := obj.(*appsv1.Deployment)
			names, images := containerCells(d.Spec.Template.Spec)
			return []any{d.Name,
				fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Val(d.Spec.Replicas, 1)),
				int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas),
				age(d.CreationTimestamp, now), names, images, selectorCell(d.Spec.Selector)}, nil
		},
	})
	register(appsv1.ReplicaSet{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Desired", "integer", "Number of desired pods."),
			col("Current", "integer", "Number of pods that exist."),
			col("Ready", "integer", "Number of ready pods."),
			ageColumn, containersColumn, imagesColumn, selectorColumn,
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			rs := obj.(*appsv1.ReplicaSet)
			names, images := containerCells(rs.Spec.Template.Spec)
			return []any{rs.Name, int32Val(rs.Spec.Replicas, 1), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
				age(rs.CreationTimestamp, now), names, images, selectorCell(rs.Spec.Selector)}, nil
		},
	})
	register(appsv1.DaemonSet{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Desired", "integer", "Number of nodes that should run the daemon pod."),
			col("Current", "integer", "Number of nodes that run at least one daemon pod."),
			col("Ready", "integer", "Number of nodes whose daemon pod is ready."),
			col("Up-to-date", "integer", "Number of nodes that run the updated daemon pod."),
			col("Available", "integer", "Number of nodes whose daemon pod is available."),
			col("Node Selector", "string", "Node selector of the daemon pods."),
			ageColumn, containersColumn, imagesColumn, selectorColumn,
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			ds := obj.(*appsv1.DaemonSet)
			names, images := containerCells(ds.Spec.Template.Spec)
			return []any{ds.Name, int64(ds.Status.DesiredNumberScheduled), int64(ds.Status.CurrentNumberScheduled),
				int64(ds.Status.NumberReady), int64(ds.Status.UpdatedNumberScheduled), int64(ds.Status.NumberAvailable),
				orNone(labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector)),
				age(ds.CreationTimestamp, now), names, images, selectorCell(ds.Spec.Selector)}, nil
		},
	})
	register(batchv1.Job{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "Status of the job."),
			col("Completions", "string", "Succeeded pods out of the desired completions."),
			col("Duration", "string", "Time the job took, or has been running."),
			ageColumn, containersColumn, imagesColumn, selectorColumn,
		},
		row: jobRow,
	})
}

func jobRow(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
	j := obj.(*batchv1.Job)
	var completions string
	switch {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var dur string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		dur = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		dur = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	names, images := containerCells(j.Spec.Template.Spec)
	cells := []any{j.Name, jobStatus(j), completions, dur, age(j.CreationTimestamp, now), names, images, selectorCell(j.Spec.Selector)}
	var conds []metav1.TableRowCondition
	if hasJobCondition(j, batchv1.JobComplete) || hasJobCondition(j, batchv1.JobFailed) {
		conds = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: jobStatus(j),
			Message: "The job has finished."}}
	}
	return cells, conds
}

func hasJobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobStatus(j *batchv1.Job) string {
	switch {
	case hasJobCondition(j, batchv1.JobFailed):
		return "Failed"
	case hasJobCondition(j, batchv1.JobComplete):
		return "Complete"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case hasJobCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case hasJobCondition(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	case hasJobCondition(j, batchv1.JobSuspended):
		return "Suspended"
	default:
		return "Running"
	}
}
