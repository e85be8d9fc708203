"""What tests share, by job: `hub` (a real hub and SDK clients), `agent` (the agent service
over HTTP), `client` (ClientSession recorders), `npm` (the node oracle scripts as child
processes), `forms` (the normal forms our views and the npm views are compared in).
Test modules import from here, never from each other."""
