package queue

import (
	"container/heap"
	"time"
)

// schedule is the in-memory plan of attempts: queued messages by next
// attempt time, earliest first, each id at most once. A message being
// attempted is not in it (the engine keeps it in its running set), so a
// message is never attempted twice at once.
type schedule struct {
	items []*schedItem
	byID  map[string]*schedItem
}

type schedItem struct {
	id    string
	at    time.Time
	index int
}

func newSchedule() *schedule {
	return &schedule{byID: map[string]*schedItem{}}
}

// set plans id for at, moving it if it was planned already.
func (s *schedule) set(id string, at time.Time) {
	if it, ok := s.byID[id]; ok {
		it.at = at
		heap.Fix((*schedHeap)(s), it.index)
		return
	}
	it := &schedItem{id: id, at: at}
	s.byID[id] = it
	heap.Push((*schedHeap)(s), it)
}

// next is the earliest planned time; ok is false when nothing is planned.
func (s *schedule) next() (at time.Time, ok bool) {
	if len(s.items) == 0 {
		return time.Time{}, false
	}
	return s.items[0].at, true
}

// popDue removes and returns the earliest id planned at or before now.
func (s *schedule) popDue(now time.Time) (string, bool) {
	if len(s.items) == 0 || s.items[0].at.After(now) {
		return "", false
	}
	it := heap.Pop((*schedHeap)(s)).(*schedItem)
	return it.id, true
}

// schedHeap implements heap.Interface over a schedule.
type schedHeap schedule

func (h *schedHeap) Len() int { return len(h.items) }

func (h *schedHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.id < b.id // queue ids sort by arrival: oldest first
}

func (h *schedHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}

func (h *schedHeap) Push(x any) {
	it := x.(*schedItem)
	it.index = len(h.items)
	h.items = append(h.items, it)
}

func (h *schedHeap) Pop() any {
	old := h.items
	it := old[len(old)-1]
	old[len(old)-1] = nil
	h.items = old[:len(old)-1]
	delete(h.byID, it.id)
	it.index = -1
	return it
}
