using System.Text.Json;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// What a caller of <see cref="ShapeWalker{TRules}"/> adds to the walk: it marks the values it cares about with a
/// context (a number of its own; 0 is "none"), reads or checks them, and may add members or items. The walker calls a
/// hook only for a non-zero context, so a plain value costs one compare.
/// </summary>
internal interface IWalkRules
{
    /// <summary>The root object's context.</summary>
    int RootContext { get; }

    /// <summary>Reads a root member that is not the model's, if it is one (the reader is on its name): true when it did.</summary>
    bool ReadRootMember(ref Utf8JsonReader reader);

    /// <summary>A structure member's context, given its parent's (never 0).</summary>
    int MemberContext(int parent, ShapeMember member);

    /// <summary>A list item's context, given the list's (never 0).</summary>
    int ItemContext(int list);

    /// <summary>Whether to note where the member's value lies in the output (the walker flushes for it, so only when needed).</summary>
    bool WantsOutputRange(int context);

    /// <summary>Where the member's value lies in the output, once written (only while writing).</summary>
    void OutputRange(int context, Range output);

    /// <summary>A string value that passed the shape's checks; the reader is on it.</summary>
    void StringValue(int context, ref Utf8JsonReader reader);

    /// <summary>A problem with a map key beyond the shape's (null: none); the reader is on it.</summary>
    string? MapKeyProblem(int context, ref Utf8JsonReader reader);

    /// <summary>Where the map's closing brace goes in the output, and whether the map is empty (only while writing).</summary>
    void MapEnd(int context, int position, bool empty);

    /// <summary>The structure is read (<paramref name="seen"/>: a bit per member ordinal); members may be added to <paramref name="output"/> (null: not writing).</summary>
    void StructureEnd(int context, Shape shape, ulong seen, Utf8JsonWriter? output);

    /// <summary>The list is read; items may be added to <paramref name="output"/> (null: not writing).</summary>
    void ListEnd(int context, Utf8JsonWriter? output);
}
