// Package endpoints keeps core/v1 Endpoints and discovery.k8s.io/v1
// EndpointSlices in step with Services and Pods.
//
// It takes in Services, Pods, Nodes (for zones), Endpoints and
// EndpointSlices from shared informers and puts out, per Service:
//   - with a selector: an Endpoints object of the same name (addresses and
//     notReadyAddresses, grouped into subsets by resolved port set) and
//     EndpointSlices of addressType IPv4 holding at most 100 endpoints each,
//     with ready/serving/terminating conditions, nodeName, zone, hostname and
//     a targetRef per pod. Named targetPorts are resolved per pod, so pods
//     exposing the name on different numbers land in different slices.
//     publishNotReadyAddresses makes every endpoint ready.
//   - without a selector: the user's Endpoints are left alone and mirrored
//     into EndpointSlices labelled with the mirroring controller's name.
//
// Every slice carries kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by labels and a controller
// ownerReference to its Service. ExternalName Services get nothing.
package endpoints
