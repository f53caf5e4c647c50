// orbit.hpp: header-only C++17 RAII wrapper over liborbit's C ABI (orbit.h).
//
// - Move-only owners for every handle; destructors call the C `_free`.
// - Setup paths (join, open) throw orbit::Error carrying the status and the
//   library's detailed message; hot paths (write, next, wait) return a Status
//   and never throw.
// - Views: std::string_view for names, topics and subjects, byte spans
//   (pointer + size) for payloads.
// - Handles: Fleet, Ring, Cursor, RingWriter (a single-writer ring's writer,
//   giving the role up in its destructor), Cache, Bus, Subscription, Lease
//   (released by its destructor). C handles keep what they need alive: destroy
//   in any order.
//
// SPDX-License-Identifier: MIT OR Apache-2.0
#ifndef ORBIT_HPP
#define ORBIT_HPP

#include <orbit.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orbit {

/// A status code (ORBIT_STATUS_*).
enum class Status : int32_t {
    Ok = ORBIT_STATUS_OK,
    Empty = ORBIT_STATUS_EMPTY,
    NotFound = ORBIT_STATUS_NOT_FOUND,
    Timeout = ORBIT_STATUS_TIMEOUT,
    Conflict = ORBIT_STATUS_CONFLICT,
    LeaseLost = ORBIT_STATUS_LEASE_LOST,
    NullArgument = ORBIT_STATUS_NULL_ARGUMENT,
    InvalidArgument = ORBIT_STATUS_INVALID_ARGUMENT,
    TooLarge = ORBIT_STATUS_TOO_LARGE,
    BufferTooSmall = ORBIT_STATUS_BUFFER_TOO_SMALL,
    NotExist = ORBIT_STATUS_NOT_EXIST,
    Exists = ORBIT_STATUS_EXISTS,
    Incompatible = ORBIT_STATUS_INCOMPATIBLE,
    Corrupt = ORBIT_STATUS_CORRUPT,
    Permission = ORBIT_STATUS_PERMISSION,
    ReadOnly = ORBIT_STATUS_READ_ONLY,
    Full = ORBIT_STATUS_FULL,
    Io = ORBIT_STATUS_IO,
    Panic = ORBIT_STATUS_PANIC,
};

inline const char *to_string(Status s) noexcept { return orbit_status_str(static_cast<int32_t>(s)); }

/// The calling thread's last detailed error message.
inline std::string last_error_message() {
    std::string msg(256, '\0');
    size_t n = orbit_last_error_message(&msg[0], msg.size());
    if (n >= msg.size()) {
        msg.assign(n + 1, '\0');
        n = orbit_last_error_message(&msg[0], msg.size());
    }
    msg.resize(n);
    return msg;
}

/// Thrown by setup paths; carries the status.
class Error : public std::runtime_error {
public:
    Error(Status s, const std::string &what) : std::runtime_error(what), status_(s) {}
    Status status() const noexcept { return status_; }

private:
    Status status_;
};

namespace detail {
inline Status st(orbit_status s) noexcept { return static_cast<Status>(s); }
inline void check(orbit_status s, const char *what) {
    if (s != ORBIT_STATUS_OK) {
        throw Error(st(s), std::string(what) + ": " + last_error_message());
    }
}
/// NUL-terminated copy of a string_view for the C ABI (setup paths). A NUL
/// inside would silently cut the string short in C: refused instead.
inline std::string z(std::string_view v) {
    if (v.find('\0') != std::string_view::npos) {
        throw Error(Status::InvalidArgument, "orbit: name, subject or prefix holds a NUL byte");
    }
    return std::string(v);
}

/// A NUL-terminated copy of a short string on the stack, for the
/// non-throwing paths (no allocation). ok() is false when v does not fit or
/// holds a NUL (which C would read as the end).
template <size_t Max> class ShortZ {
public:
    explicit ShortZ(std::string_view v) noexcept : ok_(v.size() <= Max && v.find('\0') == std::string_view::npos) {
        if (ok_) {
            std::memcpy(buf_, v.data(), v.size());
            buf_[v.size()] = '\0';
        } else {
            buf_[0] = '\0';
        }
    }
    bool ok() const noexcept { return ok_; }
    const char *c_str() const noexcept { return buf_; }

private:
    bool ok_;
    char buf_[Max + 1];
};

/// Move-only owner of a C handle.
template <typename T, void (*Free)(T *)> class Owner {
public:
    Owner() noexcept = default;
    explicit Owner(T *p) noexcept : p_(p) {}
    Owner(const Owner &) = delete;
    Owner &operator=(const Owner &) = delete;
    Owner(Owner &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Owner &operator=(Owner &&o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~Owner() { reset(); }
    void reset() noexcept {
        if (p_) Free(p_);
        p_ = nullptr;
    }
    T *get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    T *p_ = nullptr;
};
}  // namespace detail

/// A read-only view of bytes.
struct Bytes {
    const void *data = nullptr;
    size_t size = 0;
    Bytes() = default;
    Bytes(const void *d, size_t n) : data(d), size(n) {}
    Bytes(std::string_view s) : data(s.data()), size(s.size()) {}  // NOLINT: implicit on purpose
    template <typename C, typename = decltype(std::declval<const C &>().data())>
    Bytes(const C &c) : data(c.data()), size(c.size() * sizeof(*c.data())) {}  // NOLINT
};

struct Member {
    uint16_t node_id;
    uint32_t pid;
    orbit_member_state state;
    std::string label;
    uint64_t joined_at_ms, last_heartbeat_ms;
};

class Ring;

/// A granted lease with its fencing token. Move-only; the destructor releases
/// it if still held. One thread at a time.
class Lease {
public:
    Lease() noexcept = default;
    /// The fencing token of this grant (higher than every earlier grant's of
    /// the subject); 0 for an empty Lease.
    uint64_t token() const noexcept { return orbit_lease_token(h_.get()); }
    /// Extends the lease to now + ttl_ms: Ok, or LeaseLost (it expired and
    /// another took it, or it was released).
    Status renew(uint64_t ttl_ms) noexcept { return detail::st(orbit_lease_renew(h_.get(), ttl_ms)); }
    /// Releases it (Ok again when repeated), or LeaseLost when it had expired
    /// and another took it: the critical section may have overlapped.
    Status release() noexcept { return detail::st(orbit_lease_release(h_.get())); }
    /// True for a Lease that came from a grant (even once released).
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    orbit_lease *c_handle() const noexcept { return h_.get(); }

private:
    friend class Fleet;
    explicit Lease(orbit_lease *l) noexcept : h_(l) {}
    detail::Owner<orbit_lease, orbit_lease_free> h_;
};

/// Fleet membership (or an observer). Thread-safe.
class Fleet {
public:
    struct Options {
        std::string label;
        uint32_t max_nodes = 0;  // 0 = library default
        uint32_t mode = 0;
        uint64_t stale_after_ms = 0;  // 0 = library default
    };

    static Fleet join(std::string_view fleet) { return join(fleet, Options()); }
    static Fleet join(std::string_view fleet, const Options &o) {
        orbit_fleet_options c;
        orbit_fleet_options_init(&c);
        if (!o.label.empty()) c.label = o.label.c_str();
        if (o.max_nodes) c.max_nodes = o.max_nodes;
        c.mode = o.mode;
        if (o.stale_after_ms) c.stale_after_ms = o.stale_after_ms;
        orbit_fleet *f = nullptr;
        detail::check(orbit_fleet_join(detail::z(fleet).c_str(), &c, &f), "orbit_fleet_join");
        return Fleet(f);
    }
    static Fleet observe(std::string_view fleet) {
        orbit_fleet *f = nullptr;
        detail::check(orbit_fleet_observe(detail::z(fleet).c_str(), &f), "orbit_fleet_observe");
        return Fleet(f);
    }

    uint16_t node_id() const noexcept { return orbit_fleet_node_id(h_.get()); }
    Status heartbeat() noexcept { return detail::st(orbit_fleet_heartbeat(h_.get())); }

    std::vector<Member> members() const {
        size_t n = 0;
        std::vector<orbit_member> raw;
        orbit_status s;
        do {
            raw.resize(n > raw.size() ? n : raw.size() + 8);
            s = orbit_fleet_members(h_.get(), raw.data(), raw.size(), &n);
        } while (s == ORBIT_STATUS_BUFFER_TOO_SMALL);
        detail::check(s, "orbit_fleet_members");
        std::vector<Member> out;
        for (size_t i = 0; i < n; i++) {
            const orbit_member &m = raw[i];
            out.push_back({m.node_id, m.pid, m.state, std::string(m.label), m.joined_at_ms, m.last_heartbeat_ms});
        }
        return out;
    }

    /// Each node's latest heartbeat from the fleet's heartbeat history.
    std::vector<orbit_heartbeat> heartbeats() const {
        size_t n = 0;
        std::vector<orbit_heartbeat> raw;
        orbit_status s;
        do {
            raw.resize(n > raw.size() ? n : raw.size() + 8);
            s = orbit_fleet_heartbeats(h_.get(), raw.data(), raw.size(), &n);
        } while (s == ORBIT_STATUS_BUFFER_TOO_SMALL);
        detail::check(s, "orbit_fleet_heartbeats");
        raw.resize(n);
        return raw;
    }

    /// Opens the fleet's lease table with `capacity` subjects (optional: the
    /// first claim opens it with the defaults, or attaches to what exists).
    void open_contest(uint32_t capacity, uint32_t mode = 0) {
        orbit_contest_options o;
        orbit_contest_options_init(&o);
        o.capacity = capacity;
        o.mode = mode;
        detail::check(orbit_contest_open(h_.get(), &o), "orbit_contest_open");
    }

    /// Claims `subject` for `ttl_ms`. Throws Error (status Conflict when a
    /// live holder has it, this process included); see try_claim for a
    /// contention loop.
    Lease claim(std::string_view subject, uint64_t ttl_ms) {
        orbit_lease *l = nullptr;
        orbit_status s = orbit_contest_claim(h_.get(), detail::z(subject).c_str(), ttl_ms, &l);
        if (s == ORBIT_STATUS_CONFLICT) {
            throw Error(Status::Conflict, "orbit_contest_claim: " + std::string(subject) + " is held");
        }
        detail::check(s, "orbit_contest_claim");
        return Lease(l);
    }
    /// Claims without throwing: Ok (out holds the lease; a lease out held
    /// before is released), Conflict, or an error status (InvalidArgument also
    /// for a subject over 128 bytes or holding a NUL). No allocation beyond
    /// the C handle.
    Status try_claim(std::string_view subject, uint64_t ttl_ms, Lease &out) noexcept {
        detail::ShortZ<128> subj(subject);
        if (!subj.ok()) return Status::InvalidArgument;
        orbit_lease *l = nullptr;
        Status s = detail::st(orbit_contest_claim(h_.get(), subj.c_str(), ttl_ms, &l));
        if (s == Status::Ok) out = Lease(l);
        return s;
    }
    /// The live holder of `subject`, or nullopt when it is free.
    std::optional<orbit_holder> holder(std::string_view subject) const {
        orbit_holder h;
        orbit_status s = orbit_contest_holder(h_.get(), detail::z(subject).c_str(), &h);
        if (s == ORBIT_STATUS_NOT_FOUND) return std::nullopt;
        detail::check(s, "orbit_contest_holder");
        return h;
    }
    /// Removes the fleet's lease table and its audit ring.
    static void unlink_contest(std::string_view fleet) {
        detail::check(orbit_contest_unlink(detail::z(fleet).c_str()), "orbit_contest_unlink");
    }

    static void unlink(std::string_view fleet) {
        detail::check(orbit_fleet_unlink(detail::z(fleet).c_str()), "orbit_fleet_unlink");
    }

    orbit_fleet *c_handle() const noexcept { return h_.get(); }

private:
    explicit Fleet(orbit_fleet *f) : h_(f) {}
    detail::Owner<orbit_fleet, orbit_fleet_free> h_;
};

/// A frame read from a ring (metadata; the payload is in the caller's buffer).
struct Frame {
    uint64_t id = 0, ver = 0, lost = 0;
    uint32_t len = 0;
    uint8_t kind = 0;
};

/// A reader's position. One thread at a time.
class Cursor {
public:
    /// Reads the next frame into buf: Ok, Empty, or BufferTooSmall (frame.len = needed).
    Status next(Frame &frame, void *buf, size_t cap) noexcept {
        orbit_frame f;
        Status s = detail::st(orbit_cursor_next(h_.get(), &f, buf, cap));
        frame = Frame{f.id, f.ver, f.lost, f.len, f.kind};
        return s;
    }
    /// Reads up to max frames in one call: metadata into frames, payloads packed back to back into
    /// buf (size it max * max_payload). Ok (*count >= 1 frames), Empty, or BufferTooSmall (the first
    /// frame alone does not fit; frames[0].len = needed). See orbit_cursor_next_batch.
    Status next_batch(orbit_frame *frames, size_t max, void *buf, size_t cap, size_t *count) noexcept {
        return detail::st(orbit_cursor_next_batch(h_.get(), frames, max, buf, cap, count));
    }
    /// Ok when a frame is ready, Timeout otherwise.
    Status wait(uint64_t timeout_ns) noexcept { return detail::st(orbit_cursor_wait(h_.get(), timeout_ns)); }
    uint64_t lost() const noexcept { return orbit_cursor_lost(h_.get()); }

private:
    friend class Ring;
    explicit Cursor(orbit_cursor *c) : h_(c) {}
    detail::Owner<orbit_cursor, orbit_cursor_free> h_;
};

/// The one writer of a single-writer ring (see Ring::writer). Move-only; the
/// destructor gives the role up. One thread at a time.
class RingWriter {
public:
    RingWriter() noexcept = default;
    /// Appends a frame, as Ring::write: Ok, TooLarge (nothing written), ...
    Status write(Bytes payload, uint8_t kind = 0, uint64_t ver = 0, uint64_t *out_id = nullptr) noexcept {
        return detail::st(orbit_ring_writer_write(h_.get(), kind, ver, payload.data, payload.size, out_id));
    }
    /// True for a RingWriter that holds the role (not default-constructed or moved from).
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    orbit_ring_writer *c_handle() const noexcept { return h_.get(); }

private:
    friend class Ring;
    explicit RingWriter(orbit_ring_writer *w) noexcept : h_(w) {}
    detail::Owner<orbit_ring_writer, orbit_ring_writer_free> h_;
};

/// A ring. Thread-safe.
class Ring {
public:
    struct Options {
        uint64_t capacity = 4096;
        uint32_t max_payload = 1024;
        uint8_t kind = 0;
        uint32_t mode = 0;
        /// One writer at a time, across every process, through writer() (write and write_batch
        /// return InvalidArgument); its writes claim slots without compare-and-swap.
        bool single_writer = false;
    };

    /// Attaches to the existing ring whatever its geometry, or creates one with defaults.
    static Ring open(Fleet &f, std::string_view name) { return open_impl(f, name, nullptr); }
    /// Creates with these settings, or attaches if the geometry matches (Error Incompatible otherwise).
    static Ring open(Fleet &f, std::string_view name, const Options &o) {
        orbit_ring_options c;
        orbit_ring_options_init(&c);
        c.capacity = o.capacity;
        c.max_payload = o.max_payload;
        c.kind = o.kind;
        c.mode = o.mode;
        c.flags = o.single_writer ? ORBIT_RING_SINGLE_WRITER : 0;
        return open_impl(f, name, &c);
    }

    /// Appends a frame: Ok, TooLarge (nothing written), InvalidArgument on a single-writer ring
    /// (write through writer()), ReadOnly (observer), ...
    Status write(Bytes payload, uint8_t kind = 0, uint64_t ver = 0, uint64_t *out_id = nullptr) noexcept {
        return detail::st(orbit_ring_write(h_.get(), kind, ver, payload.data, payload.size, out_id));
    }
    /// Writes count frames in one call; payload i is the next lens[i] bytes of data (packed back
    /// to back). Ok (all written), TooLarge (checked first: nothing written), ... *written counts
    /// the frames written. See orbit_ring_write_batch.
    Status write_batch(const void *data, const size_t *lens, size_t count, size_t *written, uint8_t kind = 0,
                       uint64_t ver = 0, uint64_t *out_ids = nullptr) noexcept {
        return detail::st(orbit_ring_write_batch(h_.get(), kind, ver, data, lens, count, out_ids, written));
    }
    Status read(uint64_t id, Frame &frame, void *buf, size_t cap) const noexcept {
        orbit_frame f;
        Status s = detail::st(orbit_ring_read(h_.get(), id, &f, buf, cap));
        frame = Frame{f.id, f.ver, f.lost, f.len, f.kind};
        return s;
    }
    /// Geometry and counters; flags & ORBIT_RING_SINGLE_WRITER for a single-writer ring.
    orbit_ring_info info() const {
        orbit_ring_info i;
        detail::check(orbit_ring_stat(h_.get(), &i), "orbit_ring_stat");
        return i;
    }
    Cursor cursor(orbit_from from = ORBIT_FROM_OLDEST) const {
        orbit_cursor *c = nullptr;
        detail::check(orbit_cursor_open(h_.get(), from, &c), "orbit_cursor_open");
        return Cursor(c);
    }
    /// Becomes the writer of a single-writer ring (Options::single_writer) until the RingWriter
    /// is destroyed. One writer at a time across every process; the role of a writer whose
    /// process died is taken over. Throws Error: Conflict while another live writer (any
    /// process, or another RingWriter of this one) holds the ring, InvalidArgument on a
    /// multi-writer ring, ReadOnly through an observer; see try_writer for a standby loop.
    RingWriter writer() const {
        orbit_ring_writer *w = nullptr;
        orbit_status s = orbit_ring_writer_open(h_.get(), &w);
        if (s == ORBIT_STATUS_CONFLICT) {
            throw Error(Status::Conflict, "orbit_ring_writer_open: a live writer holds the ring");
        }
        detail::check(s, "orbit_ring_writer_open");
        return RingWriter(w);
    }
    /// writer() without throwing: Ok (out holds the role; a RingWriter out held before gives
    /// its role up), Conflict, InvalidArgument, ReadOnly, ...
    Status try_writer(RingWriter &out) const noexcept {
        orbit_ring_writer *w = nullptr;
        Status s = detail::st(orbit_ring_writer_open(h_.get(), &w));
        if (s == Status::Ok) out = RingWriter(w);
        return s;
    }
    static void unlink(std::string_view fleet, std::string_view name) {
        detail::check(orbit_ring_unlink(detail::z(fleet).c_str(), detail::z(name).c_str()), "orbit_ring_unlink");
    }
    orbit_ring *c_handle() const noexcept { return h_.get(); }

private:
    static Ring open_impl(Fleet &f, std::string_view name, const orbit_ring_options *o) {
        orbit_ring *r = nullptr;
        detail::check(orbit_ring_open(f.c_handle(), detail::z(name).c_str(), o, &r), "orbit_ring_open");
        return Ring(r);
    }
    explicit Ring(orbit_ring *r) : h_(r) {}
    detail::Owner<orbit_ring, orbit_ring_free> h_;
};

/// A fleet-shared key/value cache. Thread-safe.
class Cache {
public:
    struct Options {
        uint64_t capacity = 0;  // 0 = library default (entries, a power of two)
        uint32_t max_key = 0;
        uint32_t max_value = 0;
        uint32_t mode = 0;
    };

    /// Attaches to the existing cache whatever its limits, or creates one with defaults.
    static Cache open(Fleet &f, std::string_view name) { return open_impl(f, name, nullptr); }
    /// Creates with these limits, or attaches if they match (Error Incompatible otherwise).
    static Cache open(Fleet &f, std::string_view name, const Options &o) {
        orbit_cache_options c;
        orbit_cache_options_init(&c);
        if (o.capacity) c.capacity = o.capacity;
        if (o.max_key) c.max_key = o.max_key;
        if (o.max_value) c.max_value = o.max_value;
        c.mode = o.mode;
        return open_impl(f, name, &c);
    }

    /// Copies the value into buf: Ok, NotFound, or BufferTooSmall (*len = needed).
    Status get(Bytes key, void *buf, size_t cap, size_t *len, orbit_cache_meta *meta = nullptr) const noexcept {
        return detail::st(orbit_cache_get(h_.get(), key.data, key.size, buf, cap, len, meta));
    }
    /// The value as a string (empty optional-like: returns false when absent).
    bool get(Bytes key, std::string &out, orbit_cache_meta *meta = nullptr) const {
        size_t len = 0;
        out.resize(out.capacity() ? out.capacity() : 64);
        for (;;) {
            Status s = get(key, &out[0], out.size(), &len, meta);
            if (s == Status::BufferTooSmall) {
                out.resize(len);
                continue;
            }
            if (s == Status::NotFound) return false;
            if (s != Status::Ok) throw Error(s, "orbit_cache_get: " + last_error_message());
            out.resize(len);
            return true;
        }
    }
    /// Looks up count keys (packed back to back in keys, klens[i] bytes each) in one call; the
    /// values found are packed into buf (size it count * max_value), vlens[i] and statuses[i]
    /// (ORBIT_STATUS_OK or ORBIT_STATUS_NOT_FOUND) per key, *done keys looked up.
    /// See orbit_cache_get_batch.
    Status get_batch(const void *keys, const size_t *klens, size_t count, void *buf, size_t cap, size_t *vlens,
                     orbit_status *statuses, size_t *done) const noexcept {
        return detail::st(orbit_cache_get_batch(h_.get(), keys, klens, count, buf, cap, vlens, statuses, done));
    }
    bool exists(Bytes key) const noexcept {
        return orbit_cache_exists(h_.get(), key.data, key.size) == ORBIT_STATUS_OK;
    }
    Status set(Bytes key, Bytes value, uint64_t ttl_ms = 0) noexcept {
        return detail::st(orbit_cache_set(h_.get(), key.data, key.size, value.data, value.size, ttl_ms));
    }
    /// Ok, or Conflict when the key is present.
    Status add(Bytes key, Bytes value, uint64_t ttl_ms = 0) noexcept {
        return detail::st(orbit_cache_add(h_.get(), key.data, key.size, value.data, value.size, ttl_ms));
    }
    /// Ok, Conflict (version changed) or NotFound.
    Status cas(Bytes key, uint64_t expected_version, Bytes value, uint64_t ttl_ms = 0) noexcept {
        return detail::st(
            orbit_cache_cas(h_.get(), key.data, key.size, expected_version, value.data, value.size, ttl_ms));
    }
    Status incr(Bytes key, int64_t delta, int64_t *out, uint64_t ttl_ms = 0) noexcept {
        return detail::st(orbit_cache_incr(h_.get(), key.data, key.size, delta, ttl_ms, out));
    }
    /// Ok or NotFound.
    Status erase(Bytes key) noexcept { return detail::st(orbit_cache_delete(h_.get(), key.data, key.size)); }
    Status clear() noexcept { return detail::st(orbit_cache_clear(h_.get())); }
    orbit_cache_stats stats() const {
        orbit_cache_stats s;
        detail::check(orbit_cache_stat(h_.get(), &s), "orbit_cache_stat");
        return s;
    }
    static void unlink(std::string_view fleet, std::string_view name) {
        detail::check(orbit_cache_unlink(detail::z(fleet).c_str(), detail::z(name).c_str()), "orbit_cache_unlink");
    }
    orbit_cache *c_handle() const noexcept { return h_.get(); }

private:
    static Cache open_impl(Fleet &f, std::string_view name, const orbit_cache_options *o) {
        orbit_cache *c = nullptr;
        detail::check(orbit_cache_open(f.c_handle(), detail::z(name).c_str(), o, &c), "orbit_cache_open");
        return Cache(c);
    }
    explicit Cache(orbit_cache *c) : h_(c) {}
    detail::Owner<orbit_cache, orbit_cache_free> h_;
};

/// An event's metadata (topic and payload are in the caller's buffers).
struct Event {
    uint64_t id = 0;            // NetId64 [220][node][counter]
    uint64_t timestamp_ms = 0;  // publish time, ms since the Unix epoch
    uint64_t lost = 0;          // frames (of any topic) lost just before it
    uint32_t topic_len = 0, len = 0;
};

/// A subscriber's position in a bus with its topic filter. One thread at a time.
class Subscription {
public:
    /// Reads the next matching event: Ok, Empty, or BufferTooSmall (ev.topic_len
    /// and ev.len are the lengths needed, the topic buffer needs one more byte
    /// for its NUL; the event is not consumed).
    Status next(Event &ev, char *topic, size_t topic_cap, void *buf, size_t cap) noexcept {
        orbit_event e;
        Status s = detail::st(orbit_subscription_next(h_.get(), &e, topic, topic_cap, buf, cap));
        ev = Event{e.id, e.timestamp_ms, e.lost, e.topic_len, e.len};
        return s;
    }
    /// Reads the next matching event into strings (grown as needed): Ok or
    /// Empty (or an error status); may allocate.
    Status next(Event &ev, std::string &topic, std::string &payload) {
        // Use what the strings already hold: after the first events, no call allocates.
        topic.resize(topic.capacity() > 256 ? topic.capacity() : 256);
        payload.resize(payload.capacity() > 1024 ? payload.capacity() : 1024);
        for (;;) {
            Status s = next(ev, &topic[0], topic.size(), &payload[0], payload.size());
            if (s == Status::BufferTooSmall) {
                if (ev.len > payload.size()) payload.resize(ev.len);
                continue;
            }
            if (s == Status::Ok) {
                topic.resize(ev.topic_len);
                payload.resize(ev.len);
            }
            return s;
        }
    }
    /// Ok when a matching event is ready, Timeout otherwise.
    Status wait(uint64_t timeout_ns) noexcept { return detail::st(orbit_subscription_wait(h_.get(), timeout_ns)); }
    /// Frames (of any topic) lost so far.
    uint64_t lost() const noexcept { return orbit_subscription_lost(h_.get()); }
    orbit_subscription *c_handle() const noexcept { return h_.get(); }

private:
    friend class Bus;
    explicit Subscription(orbit_subscription *s) noexcept : h_(s) {}
    detail::Owner<orbit_subscription, orbit_subscription_free> h_;
};

/// A fleet-shared event bus: topics and payloads over one ring. Thread-safe.
class Bus {
public:
    struct Options {
        uint64_t capacity = 0;     // 0 = library default (events, a power of two)
        uint32_t max_payload = 0;  // 0 = library default
        uint32_t mode = 0;
    };

    /// Attaches to the existing bus whatever its geometry, or creates one with defaults.
    static Bus open(Fleet &f, std::string_view name) { return open_impl(f, name, nullptr); }
    /// Creates with this geometry, or attaches if it matches (Error Incompatible otherwise).
    static Bus open(Fleet &f, std::string_view name, const Options &o) {
        orbit_bus_options c;
        orbit_bus_options_init(&c);
        if (o.capacity) c.capacity = o.capacity;
        if (o.max_payload) c.max_payload = o.max_payload;
        c.mode = o.mode;
        return open_impl(f, name, &c);
    }

    /// Publishes payload under topic (1..=255 bytes of UTF-8): Ok, TooLarge,
    /// InvalidArgument (topic), ReadOnly. Copies the topic on the stack: no allocation.
    Status publish(std::string_view topic, Bytes payload, uint64_t *out_id = nullptr) noexcept {
        detail::ShortZ<255> t(topic);
        if (!t.ok()) return Status::InvalidArgument;
        return detail::st(orbit_bus_publish(h_.get(), t.c_str(), payload.data, payload.size, out_id));
    }
    /// Events whose topic starts with prefix ("" for all), from the oldest the
    /// bus holds or from the head.
    Subscription subscribe(std::string_view prefix = {}, orbit_from from = ORBIT_FROM_OLDEST) const {
        orbit_subscription *s = nullptr;
        detail::check(orbit_bus_subscribe(h_.get(), detail::z(prefix).c_str(), from, &s), "orbit_bus_subscribe");
        return Subscription(s);
    }
    static void unlink(std::string_view fleet, std::string_view name) {
        detail::check(orbit_bus_unlink(detail::z(fleet).c_str(), detail::z(name).c_str()), "orbit_bus_unlink");
    }
    orbit_bus *c_handle() const noexcept { return h_.get(); }

private:
    static Bus open_impl(Fleet &f, std::string_view name, const orbit_bus_options *o) {
        orbit_bus *b = nullptr;
        detail::check(orbit_bus_open(f.c_handle(), detail::z(name).c_str(), o, &b), "orbit_bus_open");
        return Bus(b);
    }
    explicit Bus(orbit_bus *b) noexcept : h_(b) {}
    detail::Owner<orbit_bus, orbit_bus_free> h_;
};

}  // namespace orbit

#endif  // ORBIT_HPP
