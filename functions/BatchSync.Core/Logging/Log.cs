using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BatchSync.Logging;

/// <summary>
/// Structured JSON log lines with message templates: <c>Log.Info("Delivered {Outcome} for job {JobId}", outcome, jobId)</c>
/// writes one line holding the template, the rendered message and each named value. Callers never pass a task token
/// or a whole payload; long values are clipped as a second guard.
/// </summary>
public static class Log
{
    private const int MaxValueChars = 512;
    private static readonly object Gate = new();
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Where lines go: standard output (which Lambda sends to CloudWatch Logs) unless a test swaps it.</summary>
    public static TextWriter Sink { get; set; } = Console.Out;

    public static void Info(string template, params object?[] values) => Write("INFO", template, null, values);

    public static void Warn(string template, params object?[] values) => Write("WARN", template, null, values);

    public static void Error(Exception? exception, string template, params object?[] values) => Write("ERROR", template, exception, values);

    public static void Write(string level, string template, Exception? exception, object?[] values)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("timestamp", DateTimeOffset.UtcNow.ToString("O"));
            writer.WriteString("level", level);
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
            for (var i = 0; i < names.Count; i++)
            {
                WriteValue(writer, names[i], i < values.Length ? values[i] : null);
            }
            if (exception is not null)
            {
                writer.WriteString("errorType", exception.GetType().Name);
                writer.WriteString("errorMessage", Clip(exception.Message));
            }
            writer.WriteEndObject();
        }
        var line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (Gate)
        {
            Sink.WriteLine(line);
            Sink.Flush();
        }
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
}
