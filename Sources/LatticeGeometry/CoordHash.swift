// An open-addressing hash map from non-negative Int keys (packed grid coordinates) to Int32
// row indices: the sparse mesh extractor's replacement for upstream's dense 257³ / 256³ grids.

/// A linear-probing hash map from non-negative `Int` keys to `Int32` values; no removal.
public struct CoordHashMap: Sendable {
    private var keys: [Int]
    private var values: [Int32]
    private var mask: Int
    /// Number of stored keys.
    public private(set) var count = 0

    /// An empty map sized for about `capacity` keys without rehashing.
    public init(capacity: Int) {
        var size = 16
        while size < 2 * max(capacity, 1) { size <<= 1 }
        keys = [Int](repeating: -1, count: size)
        values = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func slot(_ key: Int) -> Int {
        // Fibonacci hashing: packed coordinates are highly regular, so scramble before masking.
        let h = UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 17) & mask
    }

    /// The value stored for `key`, or nil.
    @inline(__always)
    public func get(_ key: Int) -> Int32? {
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == -1 { return nil }
            i = (i + 1) & mask
        }
    }

    /// The value stored for `key`, or -1.
    @inline(__always)
    public func index(_ key: Int) -> Int32 {
        get(key) ?? -1
    }

    /// Stores `value` for `key` unless the key exists; returns the value now stored.
    @discardableResult
    public mutating func insert(_ key: Int, _ value: Int32) -> Int32 {
        precondition(key >= 0, "CoordHashMap keys must be non-negative, got \(key)")
        if 2 * (count + 1) > keys.count { grow() }
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == -1 {
                keys[i] = key
                values[i] = value
                count += 1
                return value
            }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = [Int](repeating: -1, count: oldKeys.count * 2)
        values = [Int32](repeating: -1, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for (k, v) in zip(oldKeys, oldValues) where k != -1 { insert(k, v) }
    }
}
