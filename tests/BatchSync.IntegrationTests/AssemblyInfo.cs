// The end-to-end tests point the process environment at moto, as Lambda's environment would be: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
