using System.Text;
using System.Text.Json;
using BatchSync.Domain;
using BatchSync.Model;

namespace BatchSync.Mapping;

// The walker's checks of a value against its shape, and the messages they report.
internal sealed partial class ShapeWalker<TRules>
{
    /// <summary>Reports a value of the wrong JSON type and steps over it.</summary>
    private void Mismatch(ref Utf8JsonReader reader, string rule)
    {
        Report($"{rule}, not {JsonInput.Describe(reader.TokenType)}");
        reader.Skip();
    }

    private void CheckString(ref Utf8JsonReader reader, Shape shape, string what)
    {
        if (shape.Enum is null && shape.Min is null && shape.Max is null)
        {
            return;
        }
        var text = reader.GetString()!;
        if (shape.Enum is { } allowed && !allowed.Contains(text))
        {
            Report($"'{Clip(text)}' is not one of {string.Join(", ", allowed.Order(StringComparer.Ordinal))}");
        }
        if (text.Length < shape.Min)
        {
            Report($"{what} must be at least {shape.Min} characters");
        }
        if (text.Length > shape.Max)
        {
            Report($"{what} must be at most {shape.Max} characters (is {text.Length})");
        }
    }

    private void CheckCount(int count, Shape shape, string what)
    {
        if (count < shape.Min)
        {
            Report($"must have at least {shape.Min} {what}");
        }
        if (count > shape.Max)
        {
            Report($"must have at most {shape.Max} {what} (has {count})");
        }
    }

    private string Path
    {
        get
        {
            var path = new StringBuilder();
            foreach (var segment in _path)
            {
                if (segment.Name is { } name)
                {
                    path.Append('.').Append(name);
                }
                else if (segment.IsKey)
                {
                    path.Append('.').Append(Encoding.UTF8.GetString(segment.Key.Span));
                }
                else
                {
                    path.Append('[').Append(segment.Index).Append(']');
                }
            }
            return path.Length > 0 && path[0] == '.' ? path.ToString(1, path.Length - 1) : path.ToString();
        }
    }

    private static string UnknownMember(string name, Shape shape)
    {
        var suggestion = shape.MembersByPascal.Keys
            .Select(known => (known, distance: Spelling.Distance(name.ToLowerInvariant(), known.ToLowerInvariant())))
            .Where(c => c.distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.distance).ThenBy(c => c.known, StringComparer.Ordinal)
            .Select(c => c.known)
            .FirstOrDefault();
        var known = string.Join(", ", shape.MembersByPascal.Keys.Order(StringComparer.Ordinal));
        return suggestion is null
            ? $"unknown member (expected one of: {known})"
            : $"unknown member (did you mean {suggestion}?)";
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
