package slice_test

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/stackslice/stackslice/slice"
)

// A generator: the coroutine hands out values one at a time, yielding after
// each, and keeps its loop state on its own (saved) stack in between.
func ExampleNew() {
	var fib int
	c := slice.New(func() {
		a, b := 0, 1
		for range 10 {
			fib = a
			slice.Yield()
			a, b = b, a+b
		}
	})
	var got []int
	for !c.Resume() {
		got = append(got, fib)
	}
	fmt.Println(got)
	fmt.Println("done:", c.Done())
	// Output:
	// [0 1 1 2 3 5 8 13 21 34]
	// done: true
}

// Resume returns false each time the coroutine yields and true when its
// function returns; a coroutine can be resumed from any goroutine.
func ExampleCoroutine_Resume() {
	c := slice.New(func() {
		fmt.Println("step 1")
		slice.Yield()
		fmt.Println("step 2")
	})
	fmt.Println("first Resume, done:", c.Resume())
	done := make(chan bool)
	go func() { done <- c.Resume() }() // continue it on another goroutine
	fmt.Println("second Resume, done:", <-done)
	// Output:
	// step 1
	// first Resume, done: false
	// step 2
	// second Resume, done: true
}

// Yield can be called at any depth of ordinary calls inside the coroutine:
// here a recursive tree walk yields from deep inside the recursion.
func ExampleYield() {
	type tree struct {
		left, right *tree
		v           int
	}
	var walk func(t *tree, visit func(int))
	walk = func(t *tree, visit func(int)) {
		if t == nil {
			return
		}
		walk(t.left, visit)
		visit(t.v)
		walk(t.right, visit)
	}
	root := &tree{v: 4,
		left:  &tree{v: 2, left: &tree{v: 1}, right: &tree{v: 3}},
		right: &tree{v: 6, left: &tree{v: 5}},
	}
	var cur int
	c := slice.New(func() {
		walk(root, func(v int) {
			cur = v
			slice.Yield()
		})
	})
	var inOrder []int
	for !c.Resume() {
		inOrder = append(inOrder, cur)
	}
	fmt.Println(inOrder)
	// Output:
	// [1 2 3 4 5 6]
}

// Pull is a drop-in replacement for iter.Pull.
func ExamplePull() {
	next, stop := slice.Pull(slices.Values([]string{"a", "b", "c", "d"}))
	defer stop()
	var got []string
	for {
		v, ok := next()
		if !ok {
			break
		}
		got = append(got, v)
		if v == "c" {
			stop() // end early: the pending yield in the sequence returns false
		}
	}
	fmt.Println(got)
	// Output:
	// [a b c]
}

// Pull2 pulls key-value pairs from an iter.Seq2.
func ExamplePull2() {
	next, stop := slice.Pull2(slices.All([]string{"x", "y"}))
	defer stop()
	for {
		i, v, ok := next()
		if !ok {
			break
		}
		fmt.Println(i, v)
	}
	// Output:
	// 0 x
	// 1 y
}

// Current returns the coroutine the caller runs in, or nil outside any.
func ExampleCurrent() {
	var c *slice.Coroutine
	c = slice.New(func() {
		fmt.Println("inside:", slice.Current() == c)
	})
	fmt.Println("outside:", slice.Current() == nil)
	c.Resume()
	// Output:
	// outside: true
	// inside: true
}

// When the coroutine's function panics, Resume panics with a *PanicError
// that wraps the value; errors.As and errors.Is see through it.
func ExamplePanicError() {
	c := slice.New(func() {
		slice.Yield()
		panic(fmt.Errorf("reading config: %w", fs.ErrNotExist))
	})
	c.Resume()
	err := resumeErr(c)
	var pe *slice.PanicError
	fmt.Println("PanicError:", errors.As(err, &pe))
	fmt.Println("value:", pe.Value)
	fmt.Println("not exist:", errors.Is(err, fs.ErrNotExist))
	fmt.Println("has stack:", len(pe.Stack) > 0)
	fmt.Println("done:", c.Done())
	// Output:
	// PanicError: true
	// value: reading config: file does not exist
	// not exist: true
	// has stack: true
	// done: true
}

// resumeErr resumes c and returns what it panicked with, as an error.
func resumeErr(c *slice.Coroutine) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	c.Resume()
	return nil
}
