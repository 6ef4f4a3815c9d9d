pytest_plugins = ["sandbox.vcenter.fixtures", "sandbox.aws.fixtures"]
