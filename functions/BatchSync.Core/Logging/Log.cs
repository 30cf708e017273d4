using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BatchSync.Logging;

/// <summary>
/// Structured JSON log lines with message templates: <c>Log.Info("Delivered {Outcome} for job {JobId}", outcome, jobId)</c>
/// writes one JSON object holding the level, the function, the trace id, the template, the rendered message, each named
/// value and the task's correlation keys (<see cref="Correlate"/>), all at top level. Callers never pass a task token
/// or a whole payload; long values are clipped as a second guard.
/// </summary>
/// <remarks>
/// Each record is handed to the sink in ONE <see cref="TextWriter.Write(string)"/> call, never <c>WriteLine</c>: the
/// managed .NET runtime wraps <see cref="Console.Out"/> and re-encodes every <c>WriteLine</c> as the string
/// <c>message</c> of its own JSON record, while <c>Write</c> passes straight through to its telemetry log stream as one
/// CloudWatch record (DEVELOPERS.md, "Logs").
/// </remarks>
public static class Log
{
    private const int MaxValueChars = 512;
    private const int MaxStackLines = 60;
    private static readonly object Gate = new();
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly AsyncLocal<Correlation?> Current = new();
    private static TextWriter? _sink;

    /// <summary>
    /// Where records go: <see cref="Console.Out"/> as it is when the record is written (the runtime replaces it before
    /// our code loads), unless a test swaps it.
    /// </summary>
    public static TextWriter Sink
    {
        get => _sink ?? Console.Out;
        set => _sink = value;
    }

    /// <summary>Environment lookups (function name, trace id); tests replace it.</summary>
    public static Func<string, string?> Environment { get; set; } = System.Environment.GetEnvironmentVariable;

    /// <summary>The clock stamping each record; tests replace it.</summary>
    public static TimeProvider Clock { get; set; } = TimeProvider.System;

    public static void Info(string template, params object?[] values) => Write("INFO", template, null, values);

    public static void Warn(string template, params object?[] values) => Write("WARN", template, null, values);

    public static void Error(Exception? exception, string template, params object?[] values) => Write("ERROR", template, exception, values);

    /// <summary>
    /// Until the returned scope is disposed, every record written on this async flow carries these keys (those given),
    /// unless its template already names them.
    /// </summary>
    public static IDisposable Correlate(string? taskKey, string? jobId = null, string? executionArn = null)
    {
        var previous = Current.Value;
        Current.Value = new Correlation(taskKey ?? previous?.TaskKey, jobId ?? previous?.JobId, executionArn ?? previous?.ExecutionArn);
        return new Restore(previous);
    }

    public static void Write(string level, string template, Exception? exception, object?[] values)
    {
        if (Rank(level) < Rank(Environment("AWS_LAMBDA_LOG_LEVEL")))
        {
            return;
        }
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            // The format the runtime stamps its own records with ("the format Lambda service prefers").
            writer.WriteString("timestamp", Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteString("level", level);
            WriteContext(writer);
            var message = new StringBuilder(template.Length + 32);
            var names = new List<string>();
            var index = 0;
            var position = 0;
            while (position < template.Length)
            {
                var open = template.IndexOf('{', position);
                var close = open < 0 ? -1 : template.IndexOf('}', open);
                if (open < 0 || close < 0)
                {
                    message.Append(template, position, template.Length - position);
                    break;
                }
                message.Append(template, position, open - position);
                var name = template[(open + 1)..close];
                var value = index < values.Length ? values[index] : null;
                message.Append(Render(value));
                names.Add(name);
                index++;
                position = close + 1;
            }
            writer.WriteString("message", message.ToString());
            writer.WriteString("messageTemplate", template);
            var written = new HashSet<string>(StringComparer.Ordinal) { "timestamp", "level", "function", "traceId", "message", "messageTemplate" };
            for (var i = 0; i < names.Count; i++)
            {
                if (written.Add(names[i]))
                {
                    WriteValue(writer, names[i], i < values.Length ? values[i] : null);
                }
            }
            if (Current.Value is { } correlation)
            {
                WriteKey(writer, written, "TaskKey", correlation.TaskKey);
                WriteKey(writer, written, "JobId", correlation.JobId);
                WriteKey(writer, written, "ExecutionArn", correlation.ExecutionArn);
            }
            if (exception is not null)
            {
                WriteException(writer, exception);
            }
            writer.WriteEndObject();
        }
        WriteRecord(buffer.WrittenSpan);
    }

    /// <summary>Hands one complete JSON object to the sink as one record (one <c>Write</c>, ending in a newline).</summary>
    public static void WriteRecord(ReadOnlySpan<byte> json)
    {
        var record = string.Concat(Encoding.UTF8.GetString(json), "\n");
        lock (Gate)
        {
            var sink = Sink;
            sink.Write(record);
            sink.Flush();
        }
    }

    /// <summary>
    /// Lambda's application log levels (LoggingConfig.ApplicationLogLevel sets AWS_LAMBDA_LOG_LEVEL): records below it are
    /// not written, as the runtime does for its own (ConsoleLoggerWriter.cs, lines 306–326 and 368–372). Unset: INFO.
    /// </summary>
    private static int Rank(string? level) => level?.ToUpperInvariant() switch
    {
        "TRACE" => 0,
        "DEBUG" => 1,
        "WARN" or "WARNING" => 3,
        "ERROR" => 4,
        "FATAL" or "CRITICAL" => 5,
        _ => 2,
    };

    /// <summary>The fields every record carries: the function's name and, when Lambda gives one, the X-Ray trace id.</summary>
    internal static void WriteContext(Utf8JsonWriter writer, bool includeFunction = true)
    {
        if (includeFunction && Environment("AWS_LAMBDA_FUNCTION_NAME") is { Length: > 0 } function)
        {
            writer.WriteString("function", function);
        }
        // The runtime sets _X_AMZN_TRACE_ID for each invocation; the request id is held privately by the runtime and
        // reaches only handlers taking an ILambdaContext (DEVELOPERS.md, "Logs").
        if (Environment("_X_AMZN_TRACE_ID") is { Length: > 0 } trace)
        {
            writer.WriteString("traceId", Clip(trace));
        }
    }

    private static void WriteKey(Utf8JsonWriter writer, HashSet<string> written, string name, string? value)
    {
        if (value is not null && written.Add(name))
        {
            writer.WriteString(name, Clip(value));
        }
    }

    /// <summary>The exception's type and message (clipped) and its stack, inner exceptions included, one frame a line.</summary>
    private static void WriteException(Utf8JsonWriter writer, Exception exception)
    {
        writer.WriteString("errorType", exception.GetType().Name);
        writer.WriteString("errorMessage", Clip(exception.Message));
        writer.WriteStartArray("stackTrace");
        var lines = 0;
        for (var e = exception; e is not null && lines < MaxStackLines; e = e.InnerException)
        {
            if (!ReferenceEquals(e, exception))
            {
                writer.WriteStringValue($"--- caused by {e.GetType().FullName}: {Clip(e.Message)}");
                lines++;
            }
            foreach (var frame in (e.StackTrace ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (lines++ >= MaxStackLines)
                {
                    break;
                }
                writer.WriteStringValue(frame);
            }
        }
        writer.WriteEndArray();
    }

    private static void WriteValue(Utf8JsonWriter writer, string name, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNull(name); break;
            case bool b: writer.WriteBoolean(name, b); break;
            case int i: writer.WriteNumber(name, i); break;
            case long l: writer.WriteNumber(name, l); break;
            case double d: writer.WriteNumber(name, d); break;
            default: writer.WriteString(name, Render(value)); break;
        }
    }

    private static string Render(object? value) => value switch
    {
        null => "null",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => Clip(value.ToString() ?? ""),
    };

    private static string Clip(string text) => text.Length <= MaxValueChars ? text : text[..MaxValueChars] + "…";

    private sealed record Correlation(string? TaskKey, string? JobId, string? ExecutionArn);

    private sealed class Restore(Correlation? previous) : IDisposable
    {
        public void Dispose() => Current.Value = previous;
    }
}
