package streamsub

import "time"

// Following returns how many streams h follows: those with a live
// subscription, or whose follower has yet to see its last member leave.
func Following(h *Hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// SetDeleteCheck sets how often h's followers look whether their stream
// was tombstoned.
func SetDeleteCheck(h *Hub, d time.Duration) { h.deleteCheck = d }
