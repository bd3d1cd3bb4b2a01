"""A sample managed deployment: a realistic, generated dump of OpenAI Assistants API objects.

``generate(out_dir)`` writes what a team would have saved from the Assistants API before it shut
down: three assistants (support with file_search over a product manual, order status with
function tools, an internal triage helper with a JSON schema), their files and vector store,
hundreds of threads with messages, runs and run steps, and the edge cases migrations trip on.
The same seed always gives the same bytes.
"""

from homeport.sample.generate import SampleSummary, generate

__all__ = ["SampleSummary", "generate"]
