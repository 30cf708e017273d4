using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/BatchSync.Benchmarks -- --filter '*'            full run (BENCHMARKS.md)
// dotnet run -c Release --project bench/BatchSync.Benchmarks -- --filter '*' --job dry --inProcess   smoke (CI)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
