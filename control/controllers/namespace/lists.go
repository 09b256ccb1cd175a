package namespace

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Short names for the list types in the contents table.
type (
	appsListD      = appsv1.DeploymentList
	appsListDS     = appsv1.DaemonSetList
	appsListRS     = appsv1.ReplicaSetList
	batchListJ     = batchv1.JobList
	coreListPod    = corev1.PodList
	coreListSvc    = corev1.ServiceList
	coreListEp     = corev1.EndpointsList
	coreListCM     = corev1.ConfigMapList
	coreListSecret = corev1.SecretList
	coreListSA     = corev1.ServiceAccountList
	coreListEvent  = corev1.EventList
	discListES     = discoveryv1.EndpointSliceList
	coordListLease = coordv1.LeaseList
)
