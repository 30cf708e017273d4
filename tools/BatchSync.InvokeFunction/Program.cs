using BatchSync.LocalWorld;

// batchsync-invoke-function <artifact dir> <handler string> <payload file>
// Loads one function from its build artifact (FunctionArtifact: its own load context, as the dotnet runtime loads it),
// invokes it once with the payload, and writes the response to standard output (the function's log records go to
// standard error); a failed invocation writes its
// exception's type and message to standard error and exits 1, as the runtime reports an error.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: batchsync-invoke-function <artifact dir> <Assembly::Namespace.Type::Method> <payload file>");
    return 2;
}
var function = FunctionArtifact.Load(args[0], args[1]);
function.RedirectLogs(Console.Error); // standard output holds the response alone
try
{
    await using var response = await function.Handler(new MemoryStream(File.ReadAllBytes(args[2])));
    await using var stdout = Console.OpenStandardOutput();
    await response.CopyToAsync(stdout);
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{e.GetType().Name}: {e.Message}");
    return 1;
}
