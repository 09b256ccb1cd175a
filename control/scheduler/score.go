package scheduler

// Score weights. Spreading counts double so that replicas of one controller
// land on different nodes before resource balance is considered.
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightSpread         = 2
	maxScore             = 100
)

// leastAllocated favours nodes with the most CPU and memory left after
// placing the pod (0..100).
func leastAllocated(c *candidate, n *nodeInfo) int64 {
	cpu := freeShare(n.allocatable.milliCPU, n.nonzeroCPU+c.info.nonzeroCPU)
	mem := freeShare(n.allocatable.memory, n.nonzeroMem+c.info.nonzeroMem)
	return (cpu + mem) / 2
}

func freeShare(capacity, requested int64) int64 {
	if capacity <= 0 || requested >= capacity {
		return 0
	}
	return (capacity - requested) * maxScore / capacity
}

// balanced favours nodes whose CPU and memory use stay at similar fractions
// after placing the pod (0..100).
func balanced(c *candidate, n *nodeInfo) int64 {
	cpu := fraction(n.nonzeroCPU+c.info.nonzeroCPU, n.allocatable.milliCPU)
	mem := fraction(n.nonzeroMem+c.info.nonzeroMem, n.allocatable.memory)
	d := cpu - mem
	if d < 0 {
		d = -d
	}
	return int64((1 - d) * maxScore)
}

func fraction(requested, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	f := float64(requested) / float64(capacity)
	if f > 1 {
		return 1
	}
	return f
}

// spread favours nodes running fewer pods of the pod's controller, relative
// to the busiest feasible node (0..100). maxCount is that busiest count.
func spread(c *candidate, n *nodeInfo, maxCount int) int64 {
	if c.info.owner == "" || maxCount == 0 {
		return maxScore
	}
	return int64(maxCount-n.owners[c.info.owner]) * maxScore / int64(maxCount)
}

// score combines the plugins for one feasible node.
func score(c *candidate, n *nodeInfo, maxCount int) int64 {
	return weightLeastAllocated*leastAllocated(c, n) +
		weightBalanced*balanced(c, n) +
		weightSpread*spread(c, n, maxCount)
}
