package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func nonNegative(v *int32, p *field.Path) field.ErrorList {
	if v != nil && *v < 0 {
		return field.ErrorList{field.Invalid(p, *v, "must be greater than or equal to 0")}
	}
	return nil
}

// validateSelectorAndTemplate checks a controller's selector: present,
// non-empty, well-formed and matching the template's labels.
func validateSelectorAndTemplate(sel *metav1.LabelSelector, tpl *corev1.PodTemplateSpec, kind string, required bool) field.ErrorList {
	var errs field.ErrorList
	sp := specPath.Child("selector")
	tp := specPath.Child("template")
	if sel == nil {
		if required {
			errs = append(errs, field.Required(sp, ""))
		}
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, sp)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp, sel, "empty selector is invalid for "+kind))
		}
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && !s.Empty() && !s.Matches(labels.Set(tpl.Labels)) {
			errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), tpl.Labels, "`selector` does not match template `labels`"))
		}
	}
	return append(errs, validateTemplate(tpl, tp)...)
}

func requireRestartAlways(tpl *corev1.PodTemplateSpec) field.ErrorList {
	if rp := tpl.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		return field.ErrorList{field.NotSupported(specPath.Child("template", "spec", "restartPolicy"), rp,
			[]string{string(corev1.RestartPolicyAlways)})}
	}
	return nil
}

// validateIntOrPercent checks maxSurge/maxUnavailable-style values.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v.StrVal, msg))
		}
		if len(errs) == 0 {
			if n, _ := intstr.GetScaledValueFromIntOrPercent(v, 100, false); n > 100 {
				errs = append(errs, field.Invalid(p, v.StrVal, "must not be greater than 100%"))
			}
		}
		return errs
	}
	if v.IntVal < 0 {
		return field.ErrorList{field.Invalid(p, v.IntVal, "must be greater than or equal to 0")}
	}
	return nil
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, true)
	return err == nil && n == 0
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := nonNegative(d.Spec.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateSelectorAndTemplate(d.Spec.Selector, &d.Spec.Template, "deployment", true)...)
	errs = append(errs, requireRestartAlways(&d.Spec.Template)...)
	sp := specPath.Child("strategy")
	switch d.Spec.Strategy.Type {
	case "", appsv1.RollingUpdateDeploymentStrategyType:
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
			rp := sp.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
			if ru.MaxUnavailable != nil && ru.MaxSurge != nil && isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(),
					"may not be 0 when `maxSurge` is 0"))
			}
		}
	case appsv1.RecreateDeploymentStrategyType:
		if d.Spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), d.Spec.Strategy.Type,
			[]string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}))
	}
	errs = append(errs, nonNegative(d.Spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	errs = append(errs, nonNegative(&d.Spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	if pd := d.Spec.ProgressDeadlineSeconds; pd != nil {
		if *pd <= 0 {
			errs = append(errs, field.Invalid(specPath.Child("progressDeadlineSeconds"), *pd, "must be greater than 0"))
		} else if *pd <= d.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(specPath.Child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := nonNegative(rs.Spec.Replicas, specPath.Child("replicas"))
	errs = append(errs, nonNegative(&rs.Spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateSelectorAndTemplate(rs.Spec.Selector, &rs.Spec.Template, "replicaset", true)...)
	return append(errs, requireRestartAlways(&rs.Spec.Template)...)
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := validateSelectorAndTemplate(ds.Spec.Selector, &ds.Spec.Template, "daemonset", true)
	errs = append(errs, requireRestartAlways(&ds.Spec.Template)...)
	errs = append(errs, nonNegative(&ds.Spec.MinReadySeconds, specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative(ds.Spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	up := specPath.Child("updateStrategy")
	switch ds.Spec.UpdateStrategy.Type {
	case "", appsv1.RollingUpdateDaemonSetStrategyType:
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
			if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) && (ru.MaxUnavailable != nil || ru.MaxSurge != nil) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), fmt.Sprint(ru.MaxUnavailable),
					"may not be 0 when `maxSurge` is 0"))
			}
		}
	case appsv1.OnDeleteDaemonSetStrategyType:
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), ds.Spec.UpdateStrategy.Type,
			[]string{string(appsv1.OnDeleteDaemonSetStrategyType), string(appsv1.RollingUpdateDaemonSetStrategyType)}))
	}
	return errs
}

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := nonNegative(j.Spec.Parallelism, specPath.Child("parallelism"))
	errs = append(errs, nonNegative(j.Spec.Completions, specPath.Child("completions"))...)
	errs = append(errs, nonNegative(j.Spec.BackoffLimit, specPath.Child("backoffLimit"))...)
	if a := j.Spec.ActiveDeadlineSeconds; a != nil && *a <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *a, "must be greater than 0"))
	}
	if t := j.Spec.TTLSecondsAfterFinished; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("ttlSecondsAfterFinished"), *t, "must be greater than or equal to 0"))
	}
	if m := j.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(specPath.Child("completionMode"), *m,
			[]string{string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)}))
	}
	if m := j.Spec.CompletionMode; m != nil && *m == batchv1.IndexedCompletion && j.Spec.Completions == nil {
		errs = append(errs, field.Required(specPath.Child("completions"), "when completion mode is Indexed"))
	}
	manual := j.Spec.ManualSelector != nil && *j.Spec.ManualSelector
	errs = append(errs, validateSelectorAndTemplate(j.Spec.Selector, &j.Spec.Template, "job", manual)...)
	rp := j.Spec.Template.Spec.RestartPolicy
	if rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		allowed := []string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}
		p := specPath.Child("template", "spec", "restartPolicy")
		if rp == "" {
			errs = append(errs, field.Required(p, "valid values: \"OnFailure\", \"Never\""))
		} else {
			errs = append(errs, field.NotSupported(p, rp, allowed))
		}
	}
	return errs
}

func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := immutableSelector(j.Spec.Selector, old.Spec.Selector)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.Template, old.Spec.Template, specPath.Child("template"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.CompletionMode, old.Spec.CompletionMode, specPath.Child("completionMode"))...)
	if old.Spec.CompletionMode == nil || *old.Spec.CompletionMode != batchv1.IndexedCompletion {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.Completions, old.Spec.Completions, specPath.Child("completions"))...)
	}
	return errs
}
