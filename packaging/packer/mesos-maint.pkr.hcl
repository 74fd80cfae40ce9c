# Snippet for the Packer template that builds your Mesos / DC/OS agent image (any builder:
# amazon-ebs, amazon-chroot, googlecompute, azure-arm, qemu, ...). Merge the variable and the
# provisioners into your own build block; `source.amazon-ebs.agent` stands for your source.
#
# The package is installed and checked, never started: the image boots with mesos-maint.service
# enabled, and on the first boot it waits quietly until the agent answers.

variable "mesos_maint_package" {
  type        = string
  description = "Path on the Packer host of the mesos-maint .deb (Debian/Ubuntu) or .rpm (CentOS/RHEL 7+)"
}

build {
  sources = ["source.amazon-ebs.agent"]

  provisioner "file" {
    source      = var.mesos_maint_package
    destination = "/tmp/${basename(var.mesos_maint_package)}"
  }

  # Optional site configuration baked into the image (for example the cluster's master and the
  # auth settings); per-group settings are better written by user data at boot.
  # provisioner "file" {
  #   source      = "files/50-cluster.toml"
  #   destination = "/tmp/50-cluster.toml"
  # }

  provisioner "shell" {
    script = "provision-mesos-maint.sh"
    environment_vars = [
      "MESOS_MAINT_PACKAGE=/tmp/${basename(var.mesos_maint_package)}",
      # "MESOS_MAINT_CONFIG=/tmp/50-cluster.toml",
    ]
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
  }
}
