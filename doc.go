// Package chronicle is an event-sourcing toolkit: the vocabulary of
// events and event stores, and a typed layer for writing aggregates as
// pure functions.
//
// # Basics
//
// An event is a fact, named in the past tense ("MoveMade"). Events are
// appended to streams (one per aggregate, such as "game-42") in a
// [Store], and never changed. Each event gets a revision in its stream
// (0, 1, 2, ...) and a position in the store's global log (1, 2, 3, ...).
// Both are given without gaps, and positions follow commit order, so a
// reader that remembers the last position it handled resumes without
// skipping or repeating an event. Only a scavenge (see [Scavenger])
// leaves holes, where it removes the events that retention or a delete
// hides; positions are never reused.
//
// There are only a few types to learn:
//
//   - [EventData] is what you append; [RecordedEvent] is what you read.
//   - [Store] appends, reads streams, reads the global log and subscribes
//     to it. Package memory has an in-memory store, package sqlite the
//     embedded default and package postgres a PostgreSQL store; package
//     storetest is the conformance suite that every store passes, the
//     kurrent client included.
//   - [ExpectedRevision] is the optimistic concurrency check of an append:
//     [Any], [NoStream], [StreamExists] or [Exact].
//   - [Decider] is an aggregate as three functions (initial state, decide,
//     evolve); [Codec] maps its Go event types to stored events; and
//     [Repository] loads, decides and saves with retries on conflict.
//
// # Errors
//
// Errors wrap sentinels that [errors.Is] matches, such as
// [ErrWrongExpectedRevision] and [ErrStreamNotFound]; the wrong-revision
// error is a [*WrongExpectedRevisionError] that [errors.As] unpacks.
//
// # Reads
//
// Reads are iterators ([iter.Seq2] of [RecordedEvent] and error) that
// fetch lazily, page by page. Break out of the loop whenever you like:
// the read stops and frees what it held. An error ends the sequence.
//
// # Caveats
//
// Event IDs need not be unique across streams; within a stream, an append
// that repeats the IDs of events already at that place is taken for a
// retry and acknowledged without writing. A retry with [Any] or
// [StreamExists] is recognised by its first event's ID.
package chronicle
