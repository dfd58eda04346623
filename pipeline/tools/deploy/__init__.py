"""Build the Lambda artefact and the packaged template, and deploy the stack through CloudFormation."""
