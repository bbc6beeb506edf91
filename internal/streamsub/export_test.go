package streamsub

// Following returns how many streams h follows: those with a live
// subscription, or whose follower has yet to see its last member leave.
func Following(h *Hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}
