/// `/metrics` as Apache 3.8's `PrometheusMetricsProvider` serves it: the Prometheus text format 0.0.4
/// as its Java client (simpleclient 0.9) writes it, every family with `# HELP name name` and
/// `# TYPE`; gauges (the `mntr` gauges), counters (sample named as the family, no `_total`, as that
/// client wrote them), summaries (`{quantile="0.5",}`, plus 0.9 and 0.99 for ADVANCED, `_count`,
/// `_sum`), and the client's standard process metrics. There is no JVM, so no `jvm_*` families.
///
/// Differences, on purpose: quantiles come from `SummarySlab`'s fixed buckets over the last one to
/// two minutes (Apache's summaries estimate them over a sliding ten minutes); a quantile with no
/// observations in that window is NaN, as the Java client reports an empty summary.
import ZKCore

extension Replica {
    public func prometheusText(host: HostSnapshot) -> String {
        var out = PrometheusWriter()
        for (name, value) in gauges(host) {
            switch value {
            case .int(let v): out.family(name, "gauge") { $0.sample(name, Double(v)) }
            case .double(let v): out.family(name, "gauge") { $0.sample(name, v) }
            case .null, .bool, .string, .array, .object: continue  // not numbers: no gauge
            }
        }
        for name in ApacheRegistry.counters {
            let total = MetricCounter.byName[name].map { metrics.total($0) } ?? 0
            out.family(name, "counter") { $0.sample(name, Double(total)) }
        }
        for (name, advanced) in ApacheRegistry.summaries {
            let value = MetricSummary.byName[name].map { metrics.summary($0) } ?? SummaryValue()
            out.family(name, "summary") { w in
                for q in advanced ? ["0.5", "0.9", "0.99"] : ["0.5"] {
                    w.sample(name, value.recentQuantile(Double(q)!).map(Double.init) ?? .nan, labels: "quantile=\"\(q)\",")
                }
                w.sample(name + "_count", Double(value.totalCount))
                w.sample(name + "_sum", Double(value.totalSum))
            }
        }
        // The summary sets, labelled `key` as Apache's PrometheusLabelledSummary labels them (BASIC).
        for (set, name) in [(metrics.writesPerNamespace, "write_per_namespace"), (metrics.readsPerNamespace, "read_per_namespace")] {
            out.family(name, "summary") { w in
                for key in set.names {
                    let value = set.value(key)!
                    let label = "key=\"\(PrometheusWriter.escape(key))\","
                    w.sample(name, value.recentQuantile(0.5).map(Double.init) ?? .nan, labels: label + "quantile=\"0.5\",")
                    w.sample(name + "_count", Double(value.totalCount), labels: label)
                    w.sample(name + "_sum", Double(value.totalSum), labels: label)
                }
            }
        }
        // The Java client's StandardExports, with its help texts.
        out.family("process_cpu_seconds_total", "counter", help: "Total user and system CPU time spent in seconds.") {
            $0.sample("process_cpu_seconds_total", host.cpuSeconds)
        }
        out.family("process_start_time_seconds", "gauge", help: "Start time of the process since unix epoch in seconds.") {
            $0.sample("process_start_time_seconds", host.startTimeSeconds)
        }
        out.family("process_open_fds", "gauge", help: "Number of open file descriptors.") {
            $0.sample("process_open_fds", Double(host.openFileDescriptors))
        }
        out.family("process_max_fds", "gauge", help: "Maximum number of open file descriptors.") {
            $0.sample("process_max_fds", Double(host.maxFileDescriptors))
        }
        out.family("process_virtual_memory_bytes", "gauge", help: "Virtual memory size in bytes.") {
            $0.sample("process_virtual_memory_bytes", Double(host.virtualMemoryBytes))
        }
        out.family("process_resident_memory_bytes", "gauge", help: "Resident memory size in bytes.") {
            $0.sample("process_resident_memory_bytes", Double(host.residentMemoryBytes))
        }
        return out.text
    }
}

/// The text format's lines, written in one buffer.
struct PrometheusWriter {
    private(set) var text = ""

    init() { text.reserveCapacity(64 * 1024) }

    mutating func family(_ name: String, _ type: String, help: String? = nil, _ samples: (inout PrometheusWriter) -> Void) {
        text += "# HELP \(name) \(help ?? name)\n# TYPE \(name) \(type)\n"
        samples(&self)
    }

    /// `labels` as the Java client writes them: each `name="value",`, the last comma kept.
    mutating func sample(_ name: String, _ value: Double, labels: String = "") {
        text += name
        if !labels.isEmpty { text += "{" + labels + "}" }
        text += " "
        text += PrometheusWriter.format(value)
        text += "\n"
    }

    /// A label value with the format's escapes (backslash, quote, newline).
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)  // over Character
            }
        }
        return out
    }

    /// Java's `Double.toString` as the client prints it, NaN and infinities as Go spells them.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return JSONValue.text(of: value)
    }
}
