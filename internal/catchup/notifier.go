package catchup

import "sync"

// Notifier wakes every waiting subscriber at once. The zero value is
// ready to use; it is safe for concurrent use.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns a channel that the next [Notifier.Notify] closes.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes everyone who called Changed before it.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
