package standin

import (
	"bytes"
	"sync"
)

// Buffer collects output written from several goroutines (a child
// process's stdout and stderr, a logger shared by a handler's workers) and
// reads it back. With Max > 0 it keeps only the last Max bytes, so a
// long-running stand-in's output cannot grow without bound.
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if n := b.buf.Len() - b.Max; b.Max > 0 && n > 0 {
		b.buf.Next(n)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
